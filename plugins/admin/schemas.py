"""Request and response schemas of /api/v1/admin/users (validation and the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kernel.api import Out, PageQuery, Role, Schema, UserStatus
from plugins.users.schemas import Email, Nickname, ProfileOut

MAX_BAN_HOURS = 87600  # ten years; longer is what a ban without duration is for


class UserListQuery(PageQuery):
    keyword: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = (
        Field(default=None, description="part of the username, email or nickname, any case")
    )
    status: UserStatus | None = None


class AdminUserUpdateIn(Schema):
    """At least one field. status `deleted` deletes (alone); `banned` is a permanent ban."""

    nickname: Nickname | None = None
    email: Email = Field(default=None, description="unique, stored lower-case")
    status: UserStatus = Field(default=None, description="active, banned or deleted")
    role: Role = Field(default=None, description="user or admin")

    @field_validator("email")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return value.lower()

    @model_validator(mode="after")
    def _something_to_change(self) -> AdminUserUpdateIn:
        if not self.model_fields_set:
            raise PydanticCustomError(
                "missing_fields", "give at least one of nickname, email, status, role"
            )
        return self

    def changes(self) -> dict[str, object]:
        return self.model_dump(include=self.model_fields_set)


class BanIn(Schema):
    """Both optional; the body may be left out."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    duration: float | None = Field(
        default=None,
        gt=0,
        le=MAX_BAN_HOURS,
        strict=True,
        description="hours (fractions allowed); leave out for a permanent ban",
    )


class AdminUserOut(ProfileOut):
    last_login: datetime | None
    ban_reason: str | None
    banned_until: datetime | None


class UserList(Out):
    users: list[AdminUserOut]
    total: int
    page: int
    page_size: int
