"""The User and the tokens that belong to it (kernel-owned, Tortoise app label "kernel")."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

# Model docstrings become SQL table comments: tortoise's SQLite migration runner splits
# statements on ";", so a docstring must not contain one.


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class UserStatus(StrEnum):
    ACTIVE = "active"
    BANNED = "banned"
    DELETED = "deleted"


class User(Model):
    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=50, unique=True)
    email = fields.CharField(max_length=254, unique=True)
    password_hash = fields.CharField(max_length=255)
    nickname = fields.CharField(max_length=50, null=True)
    avatar_url = fields.CharField(max_length=500, null=True)
    role = fields.CharEnumField(Role, max_length=16, default=Role.USER)
    status = fields.CharEnumField(UserStatus, max_length=16, default=UserStatus.ACTIVE)
    ban_reason = fields.CharField(max_length=500, null=True)
    banned_until = fields.DatetimeField(null=True)
    # Access tokens issued before this instant are refused (password reset, ban, deletion).
    tokens_valid_after = fields.DatetimeField(null=True)
    last_login = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "users"

    def __str__(self) -> str:
        return self.username


class RefreshToken(Model):
    """One refresh token. Rotation chains the tokens of one login into a family."""

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("kernel.User", related_name="refresh_tokens", on_delete="CASCADE")
    token_hash = fields.CharField(max_length=64, unique=True)
    family = fields.CharField(max_length=32, db_index=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "refresh_tokens"


class RevokedAccessToken(Model):
    """Access tokens ended by logout before their expiry (rows can go once `expires_at` passed)."""

    jti = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.DatetimeField()

    class Meta:
        table = "revoked_access_tokens"


class PasswordResetToken(Model):
    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("kernel.User", related_name="reset_tokens", on_delete="CASCADE")
    token_hash = fields.CharField(max_length=64, unique=True)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "password_reset_tokens"
