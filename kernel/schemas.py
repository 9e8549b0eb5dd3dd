"""Base classes for request/response schemas (pydantic): validation and the OpenAPI document."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from quart import request
from quart_schema import RequestSchemaValidationError, document_response

from kernel.errors import ApiError

T = TypeVar("T")


class Schema(BaseModel):
    """Request bodies: unknown fields are refused with a 422 that names them."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query strings: unknown parameters are ignored (clients add cache-busters and the like)."""

    model_config = ConfigDict(extra="ignore")


class PageQuery(Query):
    """`page` (1..) and `page_size` (1..100) of every list endpoint."""

    page: int = Field(default=1, ge=1)
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
