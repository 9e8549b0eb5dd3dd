"""The response envelope, ApiError and the handlers that turn every failure into an envelope."""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from quart import Quart, Response, g, has_request_context, jsonify, request, websocket
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("platform.errors")

# Business codes of the API contract. New ones stay in their range: 1xxx users, 2xxx meetings,
# 3xxx media, 4xxx AI.
USERNAME_EXISTS = 1001
EMAIL_EXISTS = 1002
USER_NOT_FOUND = 1003
WRONG_PASSWORD = 1004
TOKEN_EXPIRED = 1005

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ApiError(Exception):
    """An error a client is meant to see: HTTP status, business code, message, optional detail."""

    def __init__(
        self,
        status: int,
        message: str,
        code: int | None = None,
        *,
        error: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code if code is not None else status
        self.message = message
        self.error = error
        self.headers = headers or {}


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, as every time in the API is written."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(UTC))  # type: ignore[return-value]


def request_id() -> str:
    """The id of the current request (taken from a sane X-Request-ID header, else generated)."""
    rid = g.get("request_id")
    if rid is None:
        source = request if has_request_context() else websocket
        incoming = source.headers.get("X-Request-ID", "")
        rid = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
    return rid


def ok(data: Any = None, message: str = "success", status: int = 200) -> tuple[Response, int]:
    """A success envelope: `code` is the HTTP status (201 for creations)."""
    body = {
        "code": status,
        "message": message,
        "data": data if data is not None else {},
        "timestamp": now_iso(),
        "request_id": request_id(),
    }
    return jsonify(body), status


def error_response(
    status: int,
    message: str,
    code: int | None = None,
    error: Any = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "code": code if code is not None else status,
        "message": message,
        "timestamp": now_iso(),
        "request_id": request_id(),
    }
    if error is not None:
        body["error"] = error
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _field_path(location: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in location) or "body"


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": _field_path(err["loc"]), "message": err["msg"], "type": err["type"]}
        for err in exc.errors()
    ]


def _validation_response(exc: RequestSchemaValidationError) -> Response:
    inner = exc.validation_error
    if isinstance(inner, ValidationError):
        details = validation_details(inner)
        if inner.errors() and inner.errors()[0]["type"] in ("model_type", "dict_type"):
            return error_response(422, "request body must be a JSON object", error=details)
        first = details[0]
        extra = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
        message = f"{first['field']}: {first['message']}{extra}"
        return error_response(422, message, error=details)
    return error_response(422, f"invalid request: {inner}")


def install_error_handlers(app: Quart) -> None:
    @app.errorhandler(ApiError)
    async def handle_api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.message, exc.code, exc.error, exc.headers)

    @app.errorhandler(RequestSchemaValidationError)
    async def handle_validation(exc: RequestSchemaValidationError) -> Response:
        return _validation_response(exc)

    @app.errorhandler(HTTPException)
    async def handle_http(exc: HTTPException) -> Response:
        status = exc.code or 500
        if not has_request_context():  # a WebSocket: no body to shape, keep the status
            return error_response(status, exc.description or exc.name)
        message = {
            400: "malformed request: the body is not valid JSON"
            if request.mimetype == "application/json"
            else "bad request",
            404: f"no such endpoint: {request.path}",
            405: f"method {request.method} is not allowed on {request.path}",
            413: "request body too large",
        }.get(status, exc.description or exc.name)
        headers = {}
        if status == 405 and getattr(exc, "valid_methods", None):
            headers["Allow"] = ", ".join(exc.valid_methods)
        return error_response(status, message, headers=headers)

    @app.errorhandler(Exception)
    async def handle_unexpected(exc: Exception) -> Response:
        where = f"{request.method} {request.path}" if has_request_context() else "websocket"
        log.exception("unhandled error in %s (request %s)", where, request_id())
        return error_response(500, "internal server error")
