"""Request and response schemas of /api/v1/users (validation and the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError
from quart_schema.pydantic import File

from kernel.api import Out, Schema

# The address check of registration (kernel/auth/schemas.py), so both accept the same addresses.
EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"

Nickname = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Email = Annotated[str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN)]


def check_http_url(value: str) -> str:
    """An absolute http(s) URL with a host and no whitespace or control characters."""
    value = value.strip()
    parts = urlsplit(value)
    if (
        parts.scheme.lower() not in ("http", "https")
        or not parts.hostname
        or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value)
    ):
        raise PydanticCustomError("url", "must be an absolute http(s) URL")
    return value


class ProfileUpdateIn(Schema):
    """At least one field; `null` clears nickname or avatar_url."""

    nickname: Nickname | None = None
    email: Email = Field(default=None, description="unique, stored lower-case")
    avatar_url: str | None = Field(default=None, max_length=500, description="http(s) URL")

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return value.lower()

    @field_validator("avatar_url")
    @classmethod
    def _avatar_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @model_validator(mode="after")
    def _something_to_change(self) -> ProfileUpdateIn:
        if not self.model_fields_set:
            raise PydanticCustomError(
                "missing_fields", "give at least one of nickname, email, avatar_url"
            )
        return self

    def changes(self) -> dict[str, str | None]:
        """The fields the client sent, with their validated values."""
        return self.model_dump(include=self.model_fields_set)


class ChangePasswordIn(Schema):
    old_password: str = Field(min_length=1, max_length=100)
    new_password: str = Field(min_length=6, max_length=100)


class AvatarIn(Schema):
    file: File = Field(description="the image: PNG, JPEG, GIF or WebP, at most 5 MB")


class ProfileOut(Out):
    user_id: int
    username: str
    email: str
    nickname: str | None
    avatar_url: str | None
    role: str
    status: str
    created_at: datetime
    updated_at: datetime


class Empty(Out):
    pass


class AvatarOut(Out):
    avatar_url: str


class AccountDeletedOut(Out):
    user_id: int
    status: str
