"""Password hashing with argon2 through the passlib API (libpass), off the event loop."""

from __future__ import annotations

import asyncio
import functools

from passlib.context import CryptContext

_context = CryptContext(schemes=["argon2"], deprecated="auto")


@functools.cache
def _dummy_hash() -> str:
    """Verified against when a login names no user, so both paths cost one argon2 verify.

    Made on first use, not at import: every `platform` command imports this module.
    """
    return _context.hash("not-a-real-password")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_context.hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    matches = await asyncio.to_thread(_context.verify, password, password_hash or _dummy_hash())
    return matches and password_hash is not None
