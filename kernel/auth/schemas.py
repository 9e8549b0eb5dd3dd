"""Request and response schemas of /api/v1/auth."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from kernel.schemas import Schema

EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$"


class RegisterIn(Schema):
    username: str = Field(min_length=3, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)
    password: str = Field(min_length=6, max_length=100)
    nickname: str | None = Field(default=None, max_length=50)


class LoginIn(Schema):
    username: str = Field(min_length=1, max_length=254, description="username or email")
    password: str = Field(min_length=1, max_length=100)


class RefreshIn(Schema):
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutIn(Schema):
    refresh_token: str | None = Field(default=None, max_length=200)


class ForgotPasswordIn(Schema):
    email: str = Field(max_length=254, pattern=EMAIL_PATTERN)


class ResetPasswordIn(Schema):
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=6, max_length=100)


class UserBrief(BaseModel):
    user_id: int
    username: str
    email: str
    nickname: str | None


class RegisterOut(UserBrief):
    created_at: datetime


class TokensOut(BaseModel):
    token: str
    refresh_token: str
    expires_in: int


class LoginOut(TokensOut):
    user: UserBrief


class Empty(BaseModel):
    pass
