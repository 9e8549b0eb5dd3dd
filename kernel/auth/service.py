"""Accounts and tokens: register, login, refresh rotation, logout, password reset.

Usable without HTTP (the CLI and other plugins call it). Every failure is an ApiError with the
status and business code a client sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import logging
import re
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.signals import post_save

from kernel import errors
from kernel.auth.models import (
    PasswordResetToken,
    RefreshToken,
    RevokedAccessToken,
    Role,
    User,
    UserStatus,
)
from kernel.auth.passwords import hash_password, verify_password
from kernel.auth.tokens import (
    AccessClaims,
    TokenExpired,
    TokenInvalid,
    TokenService,
    hash_token,
    new_opaque_token,
)
from kernel.errors import ApiError

log = logging.getLogger("platform.auth")
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,50}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class TokenPair:
    token: str
    refresh_token: str
    expires_in: int


def public_user(user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "username": user.username,
        "email": user.email,
        "nickname": user.nickname,
    }


AUTH_CHANNEL = "kernel:auth"
_live_services: weakref.WeakSet[AuthService] = weakref.WeakSet()


@post_save(User)
async def _user_saved(sender: type[User], instance: User, *_args: Any) -> None:
    # Any saved change to a user (ban, role, deletion, password) reaches every node's cache now.
    for service in list(_live_services):
        await service.user_changed(instance.id)


class AuthService:
    """Accounts and tokens of one app.

    Authenticating a request needs no database query in the common case: users are cached
    for `auth.user_cache_ttl` seconds and dropped from every node's cache as soon as one is
    saved (a post_save signal, sent over the event bus's channel); revoked access tokens are
    kept in memory (loaded at start, spread by the same channel). Bulk queryset updates of
    users bypass the signal and are seen once the cache entry expires.
    """

    def __init__(self, tokens: TokenService, settings: Any, events: Any, hook: Any) -> None:
        self.tokens = tokens
        self.settings = settings
        self.events = events
        self.hook = hook
        self.reset_ttl = int(settings.get("auth.reset_token_ttl", 3600))
        self.user_cache_ttl = float(settings.get("auth.user_cache_ttl", 5))
        self._users: dict[int, tuple[float, User]] = {}
        self._revoked: dict[str, datetime] = {}
        self._listener: asyncio.Task | None = None

    # -- lifecycle and shared state -------------------------------------------------------

    async def start(self) -> None:
        """Load unexpired revocations and follow other nodes' changes (needs the database)."""
        rows = await RevokedAccessToken.filter(expires_at__gt=utcnow())
        self._revoked = {row.jti: row.expires_at for row in rows}
        ready = asyncio.Event()
        self._listener = asyncio.create_task(self._follow(ready), name="platform-auth")
        async with asyncio.timeout(10):
            await ready.wait()
        _live_services.add(self)

    async def stop(self) -> None:
        _live_services.discard(self)
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        self._users.clear()

    async def _follow(self, ready: asyncio.Event) -> None:
        async with self.events.subscribe(AUTH_CHANNEL) as messages:
            ready.set()
            async for message in messages:
                if "user_id" in message:
                    self._users.pop(int(message["user_id"]), None)
                if "revoked" in message:
                    self._revoked[message["revoked"]] = datetime.fromisoformat(message["until"])

    async def user_changed(self, user_id: int) -> None:
        """Forget a cached user here and on every node (call after bulk updates of users)."""
        self._users.pop(user_id, None)
        if self._listener is not None:
            await self.events.send(AUTH_CHANNEL, {"user_id": user_id})

    async def _user(self, user_id: int) -> User | None:
        cached = self._users.get(user_id)
        if cached and time.monotonic() - cached[0] < self.user_cache_ttl:
            # A copy: a route that changes its user must not change the cache before saving.
            return copy.copy(cached[1])
        user = await User.get_or_none(id=user_id)
        if user is not None and self.user_cache_ttl > 0:
            self._users[user_id] = (time.monotonic(), copy.copy(user))
        return user

    # -- accounts -------------------------------------------------------------------------

    async def create_user(
        self,
        username: str,
        email: str,
        password: str,
        nickname: str | None = None,
        role: Role = Role.USER,
    ) -> User:
        email = email.strip().lower()
        if not USERNAME_RE.match(username):
            raise ApiError(
                422,
                "username: 3-50 characters, letters, digits, '_', '.' or '-'",
            )
        await self._check_unique(username, email)
        password_hash = await hash_password(password)
        try:
            user = await User.create(
                username=username,
                email=email,
                password_hash=password_hash,
                nickname=nickname,
                role=role,
            )
        except IntegrityError:
            # Lost a race with a concurrent registration of the same name or email.
            await self._check_unique(username, email)
            raise
        await self.events.publish("user.registered", user_id=user.id, username=user.username)
        return user

    async def _check_unique(self, username: str, email: str) -> None:
        if await User.filter(username__iexact=username).exists():
            raise ApiError(409, "username already exists", errors.USERNAME_EXISTS)
        if await User.filter(email=email).exists():
            raise ApiError(409, "email already exists", errors.EMAIL_EXISTS)

    async def login(self, identifier: str, password: str) -> tuple[TokenPair, User]:
        identifier = identifier.strip()
        query = Q(email=identifier.lower()) if "@" in identifier else Q(username__iexact=identifier)
        user = await User.filter(query).exclude(status=UserStatus.DELETED).first()
        valid = await verify_password(password, user.password_hash if user else None)
        if user is None or not valid:
            raise ApiError(401, "wrong username or password", errors.WRONG_PASSWORD)
        await self._refuse_if_banned(user)
        user.last_login = utcnow()
        await user.save(update_fields=["last_login"])
        pair = await self._issue_pair(user, family=uuid.uuid4().hex)
        await self.events.publish("user.logged_in", user_id=user.id)
        return pair, user

    async def _refuse_if_banned(self, user: User) -> None:
        if user.status != UserStatus.BANNED:
            return
        if user.banned_until is not None and user.banned_until <= utcnow():
            # A timed ban lifts itself the first time the user shows up after it ended.
            user.status, user.ban_reason, user.banned_until = UserStatus.ACTIVE, None, None
            await user.save(update_fields=["status", "ban_reason", "banned_until"])
            await self.events.publish("user.unbanned", user_id=user.id, reason="ban expired")
            return
        until = f" until {user.banned_until.isoformat()}" if user.banned_until else ""
        reason = f": {user.ban_reason}" if user.ban_reason else ""
        raise ApiError(403, f"account banned{until}{reason}")

    async def _issue_pair(self, user: User, family: str) -> TokenPair:
        access, _claims = self.tokens.issue_access(user.id, str(user.role), family)
        refresh, refresh_hash = new_opaque_token()
        await RefreshToken.create(
            user=user,
            token_hash=refresh_hash,
            family=family,
            expires_at=utcnow() + timedelta(seconds=self.tokens.refresh_ttl),
        )
        return TokenPair(access, refresh, self.tokens.access_ttl)

    # -- tokens ---------------------------------------------------------------------------

    async def refresh(self, refresh_token: str) -> TokenPair:
        row = await RefreshToken.get_or_none(token_hash=hash_token(refresh_token))
        if row is None:
            raise ApiError(401, "invalid refresh token")
        now = utcnow()
        if row.revoked_at is not None:
            await self._reuse_detected(row)
        if row.expires_at <= now:
            raise ApiError(401, "refresh token expired", errors.TOKEN_EXPIRED)
        # Conditional update: of two concurrent uses of one token, exactly one wins.
        won = await RefreshToken.filter(id=row.id, revoked_at=None).update(revoked_at=now)
        if not won:
            await self._reuse_detected(row)
        user = await User.get(id=row.user_id)
        if user.status == UserStatus.DELETED:
            raise ApiError(401, "account deleted")
        await self._refuse_if_banned(user)
        return await self._issue_pair(user, family=row.family)

    async def _reuse_detected(self, row: RefreshToken) -> None:
        await RefreshToken.filter(family=row.family, revoked_at=None).update(revoked_at=utcnow())
        log.warning("refresh token reuse for user %s: family %s revoked", row.user_id, row.family)
        await self.events.publish("auth.refresh_reuse", user_id=row.user_id)
        raise ApiError(
            401, "refresh token already used: every session of this login was signed out"
        )

    async def logout(self, user: User, claims: AccessClaims, refresh_token: str | None) -> None:
        """End this login: its refresh-token family and the access token used to call."""
        families = {claims.session} if claims.session else set()
        if refresh_token:
            row = await RefreshToken.get_or_none(token_hash=hash_token(refresh_token))
            if row is not None and row.user_id == user.id:
                families.add(row.family)
        if families:
            await RefreshToken.filter(
                user_id=user.id, family__in=list(families), revoked_at=None
            ).update(revoked_at=utcnow())
        await RevokedAccessToken.get_or_create(
            jti=claims.jti, defaults={"expires_at": claims.expires_at}
        )
        await RevokedAccessToken.filter(expires_at__lt=utcnow()).delete()
        self._revoked[claims.jti] = claims.expires_at
        self._revoked = {jti: until for jti, until in self._revoked.items() if until > utcnow()}
        await self.events.send(
            AUTH_CHANNEL, {"revoked": claims.jti, "until": claims.expires_at.isoformat()}
        )
        await self.events.publish("user.logged_out", user_id=user.id)

    async def revoke_sessions(self, user: User, keep_family: str | None = None) -> int:
        """Revoke the user's refresh tokens (all, or all but one login's family)."""
        query = RefreshToken.filter(user_id=user.id, revoked_at=None)
        if keep_family:
            query = query.exclude(family=keep_family)
        return await query.update(revoked_at=utcnow())

    async def end_all_access(self, user: User) -> None:
        """Make every access token and refresh token of the user stop working now."""
        user.tokens_valid_after = utcnow()
        await user.save(update_fields=["tokens_valid_after"])
        await self.revoke_sessions(user)

    async def authenticate(self, token: str) -> tuple[User, AccessClaims]:
        """The user behind an access token; raises 401/403 ApiError when it must not pass."""
        try:
            claims = self.tokens.decode_access(token)
        except TokenExpired as exc:
            raise ApiError(401, "access token expired", errors.TOKEN_EXPIRED) from exc
        except TokenInvalid as exc:
            raise ApiError(401, str(exc)) from exc
        if claims.jti in self._revoked:
            raise ApiError(401, "access token revoked")
        user = await self._user(claims.user_id)
        if user is None or user.status == UserStatus.DELETED:
            raise ApiError(401, "invalid access token: account no longer exists")
        if user.tokens_valid_after is not None and claims.issued_at < user.tokens_valid_after:
            raise ApiError(401, "access token revoked")
        await self._refuse_if_banned(user)
        return user, claims

    # -- passwords ------------------------------------------------------------------------

    async def forgot_password(self, email: str) -> None:
        user = await User.get_or_none(email=email.strip().lower(), status=UserStatus.ACTIVE)
        if user is None:
            log.info("password reset asked for an unknown or inactive address")
            return
        token, token_hash = new_opaque_token()
        now = utcnow()
        # Only the newest reset link works.
        await PasswordResetToken.filter(user_id=user.id, used_at=None).update(used_at=now)
        await PasswordResetToken.create(
            user=user, token_hash=token_hash, expires_at=now + timedelta(seconds=self.reset_ttl)
        )
        minutes = self.reset_ttl // 60
        body = (
            f"Hello {user.nickname or user.username},\n\n"
            f"Use this token to reset your password within {minutes} minutes:\n\n{token}\n\n"
            "If you did not ask for it, ignore this message."
        )
        delivered = self.hook.send_mail(to=user.email, subject="Reset your password", body=body)
        if inspect.isawaitable(delivered):
            await delivered
        await self.events.publish("user.password_reset_requested", user_id=user.id)

    async def reset_password(self, token: str, new_password: str) -> None:
        now = utcnow()
        row = await PasswordResetToken.get_or_none(token_hash=hash_token(token))
        if row is None or row.used_at is not None or row.expires_at <= now:
            raise ApiError(400, "reset token invalid, used or expired", errors.TOKEN_EXPIRED)
        won = await PasswordResetToken.filter(id=row.id, used_at=None).update(used_at=now)
        if not won:
            raise ApiError(400, "reset token invalid, used or expired", errors.TOKEN_EXPIRED)
        user = await User.get(id=row.user_id)
        user.password_hash = await hash_password(new_password)
        await user.save(update_fields=["password_hash", "updated_at"])
        await self.end_all_access(user)
        await self.events.publish("user.password_reset", user_id=user.id)

    async def change_password(
        self, user: User, old_password: str, new_password: str, keep_family: str | None = None
    ) -> None:
        if not await verify_password(old_password, user.password_hash):
            raise ApiError(400, "old_password: wrong password", errors.WRONG_PASSWORD)
        user.password_hash = await hash_password(new_password)
        await user.save(update_fields=["password_hash", "updated_at"])
        await self.revoke_sessions(user, keep_family=keep_family)
        await self.events.publish("user.password_changed", user_id=user.id)
