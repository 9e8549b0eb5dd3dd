"""Typed errors made from the platform's error envelope.

Every failed call raises an `ApiError` (or a subclass chosen by HTTP status) carrying what the
envelope said: the HTTP status, the business code (1xxx users, 2xxx meetings, 3xxx media,
4xxx AI, else the status), the message, the request id to quote in a bug report, and the
per-field details of a validation error.
"""

from __future__ import annotations

from typing import Any

# Business codes of the API contract.
USERNAME_EXISTS = 1001
EMAIL_EXISTS = 1002
USER_NOT_FOUND = 1003
WRONG_PASSWORD = 1004
TOKEN_EXPIRED = 1005
MEETING_NOT_FOUND = 2001
MEETING_ENDED = 2002
MEETING_FULL = 2003
WRONG_MEETING_PASSWORD = 2004
UPLOAD_FAILED = 3001
FILE_NOT_FOUND = 3002
AI_UNAVAILABLE = 4001
AI_FAILED = 4002


class PlatformError(Exception):
    """Anything this SDK raises on purpose."""


class ApiError(PlatformError):
    """The server answered with an error envelope."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        request_id: str | None = None,
        error: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} ({code}): {message}")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.error = error  # the envelope's optional detail, as sent
        self.headers = headers or {}

    @property
    def fields(self) -> dict[str, str]:
        """Field name -> message, for validation errors that name their fields."""
        if not isinstance(self.error, list):
            return {}
        return {
            str(item["field"]): str(item.get("message", ""))
            for item in self.error
            if isinstance(item, dict) and "field" in item
        }


class BadRequest(ApiError):
    """400."""


class Unauthorized(ApiError):
    """401: no token, a bad or expired token (code 1005), a wrong password (1004)."""


class Forbidden(ApiError):
    """403."""


class NotFound(ApiError):
    """404 (codes 1003, 2001, 3002 or 404)."""


class Conflict(ApiError):
    """409 (e.g. 1001 username exists, 1002 email exists)."""


class PayloadTooLarge(ApiError):
    """413."""


class UnsupportedMedia(ApiError):
    """415."""


class ValidationError(ApiError):
    """422: `fields` names what was wrong."""


class RateLimited(ApiError):
    """429: `retry_after` seconds until the limit lets the call through."""

    @property
    def retry_after(self) -> float | None:
        value = self.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None


class ServerError(ApiError):
    """5xx."""


class ServiceUnavailable(ServerError):
    """503: a plugin or service the call needs is not there."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMedia,
    422: ValidationError,
    429: RateLimited,
    503: ServiceUnavailable,
}


def error_for(status: int, body: Any, headers: dict[str, str] | None = None) -> ApiError:
    """The typed error for a response: its envelope if it has one, else its status alone."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    if isinstance(body, dict) and "message" in body:
        code = body.get("code")
        return cls(
            status,
            code if isinstance(code, int) else status,
            str(body["message"]),
            body.get("request_id") or headers.get("x-request-id"),
            body.get("error"),
            headers,
        )
    return cls(status, status, f"HTTP {status}", headers.get("x-request-id"), None, headers)
