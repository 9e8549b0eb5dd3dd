"""Base classes for request/response schemas (pydantic): validation and the OpenAPI document."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import request
from quart_schema import RequestSchemaValidationError, document_response
from quart_schema.openapi import OpenAPIProvider

from kernel.errors import ApiError

T = TypeVar("T")
# Far beyond any real list, and small enough that its offset fits every database's integer.
MAX_PAGE = 10_000_000


class Schema(BaseModel):
    """Request bodies: unknown fields are refused with a 422 that names them."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Query(BaseModel):
    """Query strings: unknown parameters are ignored (clients add cache-busters and the like)."""

    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class PageQuery(Query):
    """`page` (1..) and `page_size` (1..100) of every list endpoint."""

    page: int = Field(default=1, ge=1, le=MAX_PAGE)
    page_size: int = Field(default=20, ge=1, le=100)


async def paginate(query: Any, page: int, page_size: int) -> tuple[list[Any], int]:
    """One page of a Tortoise queryset and the total count."""
    total = await query.count()
    items = await query.offset((page - 1) * page_size).limit(page_size)
    return list(items), total


class Out(BaseModel):
    """Response data (documentation only; handlers build plain dicts)."""


class Envelope(BaseModel, Generic[T]):
    code: int
    message: str
    data: T
    timestamp: str
    request_id: str


class ErrorEnvelope(BaseModel):
    code: int
    message: str
    timestamp: str
    request_id: str
    error: object | None = None


def responds(data_model: type, status: int = 200) -> object:
    """Document that a route answers `status` with an envelope whose `data` is `data_model`."""
    return document_response(Envelope[data_model], status)  # type: ignore[valid-type]


async def optional_body(schema: type[BaseModel]) -> Any:
    """Validate a JSON body that clients may leave out entirely (then: the schema's defaults)."""
    raw = await request.get_json(silent=True, force=True) if await request.get_data() else {}
    if raw is None:
        raise ApiError(400, "malformed request: the body is not valid JSON")
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        raise RequestSchemaValidationError(exc) from exc


_REF = "#/components/schemas/"


def _retarget(value: Any, renames: dict[str, str]) -> Any:
    """`value` with its `$ref`s to renamed components pointing at the new names."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF) and ref[len(_REF) :] in renames:
            value = {**value, "$ref": _REF + renames[ref[len(_REF) :]]}
        return {key: _retarget(item, renames) for key, item in value.items()}
    if isinstance(value, list):
        return [_retarget(item, renames) for item in value]
    return value


class PlatformOpenAPI(OpenAPIProvider):
    """quart-schema's document, where two plugins may each have a model of the same name
    (`StartIn`, `RoomStats`): quart-schema names a component after its model, so the last one
    would describe both. A route whose model clashes gets it as `<blueprint>.<Name>`."""

    _taken: dict[str, Any]

    def schema(self) -> dict[str, Any]:
        self._taken = {}
        return super().schema()

    def build_paths(self, rule: Any) -> tuple[dict, dict]:
        paths, components = super().build_paths(rule)
        prefix = rule.endpoint.rpartition(".")[0] or "app"
        renames: dict[str, str] = {}
        tries: dict[str, int] = {}
        while True:  # a renamed model changes the schemas that refer to it: until none clash
            named = {renames.get(n, n): _retarget(s, renames) for n, s in components.items()}
            clashes = [n for n, s in named.items() if self._taken.get(n, s) != s]
            if not clashes:
                break
            for name in clashes:
                original = next(o for o in components if renames.get(o, o) == name)
                tries[original] = tries.get(original, 0) + 1
                suffix = str(tries[original]) if tries[original] > 1 else ""
                renames[original] = f"{prefix}.{original}{suffix}"
        self._taken.update(named)
        return _retarget(paths, renames), named
