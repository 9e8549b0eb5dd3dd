"""Everything a plugin needs from the kernel, in one import: `from kernel.api import ...`.

Built-in plugins use nothing else; if a plugin needs more, the kernel grows a hook or a name here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import current_app
from quart_schema import validate_querystring, validate_request

from kernel.auth.decorators import current_claims, current_user, require_auth, require_role
from kernel.auth.models import Role, User, UserStatus
from kernel.errors import ApiError, iso, ok
from kernel.hookspecs import hookimpl, hookspec
from kernel.plugins import PluginUnavailable
from kernel.ratelimit import rate_limit
from kernel.schemas import Out, Schema, responds

if TYPE_CHECKING:
    from kernel.app import Platform

__all__ = [
    "ApiError",
    "Out",
    "PluginUnavailable",
    "Role",
    "Schema",
    "User",
    "UserStatus",
    "current_claims",
    "current_user",
    "get_platform",
    "hookimpl",
    "hookspec",
    "iso",
    "ok",
    "publish",
    "rate_limit",
    "require_auth",
    "require_role",
    "responds",
    "validate_querystring",
    "validate_request",
]


def get_platform() -> Platform:
    """The platform of the running app: settings, events, auth service, plugin manager."""
    return current_app.extensions["platform"]


async def publish(name: str, **data: Any) -> Any:
    """Publish an event to every plugin's `on_event` hook on every node."""
    return await get_platform().events.publish(name, **data)
