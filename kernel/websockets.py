"""WebSocket routes served as raw ASGI, ahead of Quart (hook `register_websocket_routes`).

A Quart WebSocket route costs an extra task and queue per connection and several layers per
message; a route that carries many small messages (signaling) can talk ASGI directly instead.
Its handler `async def handler(scope, receive, send)` runs inside the app context (settings,
`get_platform()`, the database) but with no request context: it reads the query string, headers
and subprotocols from `scope` and refuses a connection with `deny_websocket`.
"""

from __future__ import annotations

import contextvars
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from kernel.errors import _REQUEST_ID_RE, now_iso

Handler = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Any]
# The scope of the raw WebSocket being served (for `public_url`, which has no request here);
# tasks and events started while serving it inherit it.
current_scope: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "websocket_scope", default=None
)


def scope_base_url(scope: dict) -> str:
    """`http(s)://host[:port]` the client used to reach this connection."""
    scheme = "https" if scope.get("scheme") in ("wss", "https") else "http"
    host = websocket_header(scope, "host")
    if not host and scope.get("server"):
        server_host, server_port = scope["server"][:2]
        host = f"{server_host}:{server_port}"
    return f"{scheme}://{host or 'localhost'}"


class WebsocketRoutes:
    """ASGI middleware: a WebSocket to a registered path goes to its handler, the rest to Quart."""

    def __init__(self, app: Any, inner: Any, routes: dict[str, Handler]) -> None:
        self.app = app
        self.inner = inner
        self.routes = routes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            handler = self.routes.get(scope["path"])
            if handler is not None:
                token = current_scope.set(scope)
                try:
                    async with self.app.app_context():
                        await handler(scope, receive, send)
                finally:
                    current_scope.reset(token)
                return
        await self.inner(scope, receive, send)


def check_route(path: str, handler: Handler) -> tuple[str, Handler]:
    """Validate one `register(path, handler)` of the hook."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"WebSocket route path must start with '/': {path!r}")
    if not callable(handler):
        raise TypeError(f"WebSocket route {path}: handler is not callable: {handler!r}")
    return path, handler


def websocket_args(scope: dict) -> dict[str, str]:
    """The query string of a connection as a dict (the first value of a repeated name)."""
    raw = scope.get("query_string", b"").decode("latin-1")
    args: dict[str, str] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        args.setdefault(key, value)
    return args


def websocket_header(scope: dict, name: str) -> str | None:
    """One request header of a connection (`name` in lower case), or None."""
    wanted = name.lower().encode("latin-1")
    for key, value in scope.get("headers", ()):
        if key.lower() == wanted:
            return value.decode("latin-1")
    return None


def scope_request_id(scope: dict) -> str:
    """The connection's X-Request-ID when sane, else a new one (as for HTTP requests)."""
    incoming = websocket_header(scope, "x-request-id") or ""
    return incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex


async def deny_websocket(
    scope: dict, send: Any, status: int, message: str, code: int | None = None
) -> None:
    """Refuse a connection before accepting it, with the API's error envelope as the HTTP
    response (or, if the server cannot send one, a close with code 1008)."""
    if "websocket.http.response" not in (scope.get("extensions") or {}):
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    rid = scope_request_id(scope)
    body = {
        "code": code if code is not None else status,
        "message": message,
        "timestamp": now_iso(),
        "request_id": rid,
    }
    data = json.dumps(body).encode()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                (b"x-request-id", rid.encode()),
            ],
        }
    )
    await send({"type": "websocket.http.response.body", "body": data})
