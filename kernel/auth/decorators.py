"""`require_auth` and `require_role` for routes; `current_user()` inside them."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from quart import current_app, g, has_request_context, request, websocket

from kernel.auth.models import User
from kernel.auth.tokens import AccessClaims
from kernel.errors import ApiError


def bearer_token() -> str | None:
    """The access token of the current request or WebSocket, if it carries one."""
    source = request if has_request_context() else websocket
    header = source.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def authenticate_request() -> User:
    """Authenticate the current request (once) and return its user; raise 401/403."""
    if g.get("user") is not None:
        return g.user
    token = bearer_token()
    if not token:
        raise ApiError(
            401,
            "authentication required: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    auth = current_app.extensions["platform"].auth
    user, claims = await auth.authenticate(token)
    g.user, g.claims = user, claims
    return user


def require_auth(func: Callable) -> Callable:
    """The route needs a valid access token of an active user."""

    @wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        await authenticate_request()
        return await func(*args, **kwargs)

    wrapper.requires_auth = True  # type: ignore[attr-defined]
    return wrapper


def require_role(*roles: str) -> Callable:
    """The route needs an authenticated user whose role is one of `roles`."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = await authenticate_request()
            if str(user.role) not in roles:
                raise ApiError(403, f"forbidden: needs role {' or '.join(roles)}")
            return await func(*args, **kwargs)

        wrapper.requires_auth = True  # type: ignore[attr-defined]
        return wrapper

    return decorator


def current_user() -> User:
    """The authenticated user of this request (inside a `require_auth` route)."""
    user = g.get("user")
    if user is None:
        raise RuntimeError("current_user() outside a route protected by require_auth")
    return user


def current_claims() -> AccessClaims:
    return g.claims
