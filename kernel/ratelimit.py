"""Named rate-limit classes from config; `@rate_limit("general")` on a route.

Counting is per class and endpoint, per user when the request is authenticated and per client IP
otherwise. The `limits` library's moving window keeps counts in memory by default and in Redis
when `redis_url` is set, so every node of a deployment shares them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from quart import current_app, g, request

from kernel.auth.decorators import bearer_token
from kernel.auth.tokens import TokenExpired, TokenInvalid
from kernel.errors import ApiError
from kernel.settings import Settings

KEY_PREFIX = "platform-rl"


class RateLimiter:
    """The limit classes of one app and the storage that counts hits."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = bool(settings.get("ratelimit.enabled", True))
        self.trust_forwarded_for = bool(settings.get("ratelimit.trust_forwarded_for", False))
        self.classes: dict[str, RateLimitItem] = {}
        self._configured = {k.lower(): v for k, v in (settings.get("rate_limits") or {}).items()}
        for name, value in self._configured.items():
            self.add_class(name, value, overridable=False)
        redis_url = settings.get("redis_url")
        self.storage: Storage = (
            RedisStorage(redis_url, implementation="redispy", key_prefix=KEY_PREFIX)
            if redis_url
            else MemoryStorage()
        )
        self.limiter = MovingWindowRateLimiter(self.storage)

    def add_class(self, name: str, limit: str, *, overridable: bool = True) -> None:
        """Add a limit class; a value in config's [rate_limits] wins over a plugin's default."""
        if overridable and name in self._configured:
            return
        try:
            self.classes[name] = parse(str(limit))
        except ValueError as exc:
            raise ValueError(f"rate limit {name!r}: invalid limit {limit!r}") from exc

    def client_key(self) -> str:
        user = g.get("user")
        if user is not None:
            return f"user:{user.id}"
        token = bearer_token()
        if token:
            # The limit decorator may run before require_auth: a verified token names the user.
            try:
                claims = current_app.extensions["platform"].tokens.decode_access(token)
            except (TokenExpired, TokenInvalid):
                pass
            else:
                return f"user:{claims.user_id}"
        address = request.remote_addr or "unknown"
        if self.trust_forwarded_for and request.headers.get("X-Forwarded-For"):
            address = request.headers["X-Forwarded-For"].split(",")[0].strip()
        return f"ip:{address}"

    async def hit(self, name: str, scope: str) -> dict[str, str]:
        """Count one hit; raise a 429 ApiError when over; return the X-RateLimit-* headers."""
        item = self.classes[name]
        identity = (name, scope, self.client_key())
        allowed = await self.limiter.hit(item, *identity)
        stats = await self.limiter.get_window_stats(item, *identity)
        reset_in = max(0, math.ceil(stats.reset_time - time.time()))
        headers = {
            "X-RateLimit-Limit": str(item.amount),
            "X-RateLimit-Remaining": str(max(0, stats.remaining)),
            "X-RateLimit-Reset": str(int(stats.reset_time)),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, reset_in))
            raise ApiError(
                429,
                f"too many requests: limit {item.amount} per {item.multiples} "
                f"{item.GRANULARITY.name} for '{name}'; retry in {max(1, reset_in)} s",
                headers=headers,
            )
        return headers

    async def ping(self) -> None:
        if not await self.storage.check():
            raise ConnectionError("rate-limit storage does not answer")

    async def reset(self) -> None:
        await self.storage.reset()


def rate_limit(name: str) -> Callable:
    """Limit a route by the class `name` (e.g. "general", "auth"; see API.md)."""

    def decorator(func: Callable) -> Callable:
        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            limiter: RateLimiter = current_app.extensions["platform"].ratelimiter
            if limiter.enabled:
                if name not in limiter.classes:
                    raise RuntimeError(f"unknown rate-limit class {name!r}")
                g.ratelimit_headers = await limiter.hit(name, request.endpoint or request.path)
            return await func(*args, **kwargs)

        wrapper.rate_limit_class = name  # type: ignore[attr-defined]
        return wrapper

    return decorator
