"""Everything a plugin needs from the kernel, in one import: `from kernel.api import ...`.

Built-in plugins use nothing else; if a plugin needs more, the kernel grows a hook or a name here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import current_app, has_request_context, request
from quart_schema import validate_querystring, validate_request

from kernel.auth.decorators import current_claims, current_user, require_auth, require_role
from kernel.auth.models import Role, User, UserStatus
from kernel.bodies import FormPart, body_limit, iter_body, stream_form
from kernel.db import bulk_insert
from kernel.errors import ApiError, iso, ok
from kernel.hookspecs import hookimpl, hookspec
from kernel.inputs import MAX_ID, Id, parse_id, parse_json
from kernel.jobs import HostFailed, Job, JobFailed, JobNode, JobStatus, ModelState
from kernel.plugins import PluginUnavailable
from kernel.ratelimit import rate_limit
from kernel.schemas import Out, PageQuery, Query, Schema, optional_body, paginate, responds
from kernel.storage import Storage, StorageError, StorageLimitExceeded
from kernel.websockets import (
    WebsocketOut,
    accept_websocket,
    current_scope,
    deny_websocket,
    scope_base_url,
    text_frame,
    websocket_args,
    websocket_header,
)

if TYPE_CHECKING:
    from kernel.app import Platform

__all__ = [
    "MAX_ID",
    "ApiError",
    "FormPart",
    "HostFailed",
    "Id",
    "Job",
    "JobFailed",
    "JobNode",
    "JobStatus",
    "ModelState",
    "Out",
    "PageQuery",
    "PluginUnavailable",
    "Query",
    "Role",
    "Schema",
    "Storage",
    "StorageError",
    "StorageLimitExceeded",
    "User",
    "UserStatus",
    "WebsocketOut",
    "accept_websocket",
    "body_limit",
    "bulk_insert",
    "current_claims",
    "current_user",
    "deny_websocket",
    "get_platform",
    "hookimpl",
    "hookspec",
    "iso",
    "iter_body",
    "ok",
    "optional_body",
    "paginate",
    "parse_id",
    "parse_json",
    "public_url",
    "publish",
    "rate_limit",
    "require_auth",
    "require_role",
    "responds",
    "stream_form",
    "text_frame",
    "validate_querystring",
    "validate_request",
    "websocket_args",
    "websocket_header",
]


def get_platform() -> Platform:
    """The platform of the running app: settings, events, auth service, plugin manager."""
    return current_app.extensions["platform"]


async def publish(name: str, **data: Any) -> Any:
    """Publish an event to every plugin's `on_event` hook on every node."""
    return await get_platform().events.publish(name, **data)


def public_url(path: str, *, websocket: bool = False) -> str:
    """An absolute URL of this deployment for `path`: setting `public_url`, else the address the
    current request (or raw WebSocket route connection) came to, else where this server listens
    (`server.host`/`server.port`, which `platform serve` sets; loopback when it binds all)."""
    settings = get_platform().settings
    base = settings.get("public_url") or ""
    if not base and has_request_context():
        base = request.host_url
    elif not base and (scope := current_scope.get()) is not None:
        base = scope_base_url(scope)
    elif not base:
        host = str(settings.get("server.host", "127.0.0.1"))
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        base = f"http://{host}:{settings.get('server.port', 8000)}"
    base = base.rstrip("/")
    if websocket:
        base = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    return f"{base}{path}"
