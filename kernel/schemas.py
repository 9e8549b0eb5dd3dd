"""Base classes for request/response schemas (pydantic): validation and the OpenAPI document."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict
from quart_schema import document_response

T = TypeVar("T")


class Schema(BaseModel):
    """Request bodies: unknown fields are refused with a 422 that names them."""

    model_config = ConfigDict(extra="forbid")


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
