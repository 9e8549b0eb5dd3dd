"""WebSocket routes served as raw ASGI, ahead of Quart (hook `register_websocket_routes`).

A Quart WebSocket route costs an extra task and queue per connection and several layers per
message; a route that carries many small messages (signaling) can talk ASGI directly instead.
Its handler `async def handler(scope, receive, send)` runs inside the app context (settings,
`get_platform()`, the database) but with no request context: it reads the query string, headers
and subprotocols from `scope`, refuses a connection with `deny_websocket` and accepts one with
`accept_websocket`, whose `WebsocketOut` can write ready-made frames straight to the socket.
"""

from __future__ import annotations

import contextvars
import json
import struct
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


def text_frame(text: str) -> bytes:
    """`text` as one unfragmented, unmasked WebSocket text frame (RFC 6455 5.2), as a server
    sends it: built once, the same bytes serve every receiver of a broadcast."""
    data = text.encode()
    size = len(data)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = struct.pack("!BBH", 0x81, 126, size)
    else:
        header = struct.pack("!BBQ", 0x81, 127, size)
    return header + data


class WebsocketOut:
    """The sending side of an accepted raw WebSocket (see `accept_websocket`).

    `send_text` and `close` always work (ASGI messages). When `direct`, `write` also takes
    ready-made frames (`text_frame`) and hands them to the connection's transport at once:
    several frames in one system call, and none of the server's per-message layers (ASGI
    message, wsproto frame, lock and drain), which cost more than the write itself.
    """

    __slots__ = ("_send", "_transport")

    def __init__(self, send: Any, transport: Any = None) -> None:
        self._send = send
        self._transport = transport

    @property
    def direct(self) -> bool:
        return self._transport is not None

    def write(self, frames: bytes) -> int:
        """Queue whole frames on the socket without waiting; the bytes still unsent after it
        (a receiver that reads too slowly makes this grow: the caller decides when to drop it)."""
        transport = self._transport
        if transport.is_closing():
            return 0
        transport.write(frames)
        return transport.get_write_buffer_size()

    def abort(self) -> None:
        """Drop the connection now, unsent bytes and all (the server then reports a disconnect)."""
        if self._transport is not None:
            self._transport.abort()

    async def send_text(self, text: str) -> None:
        await self._send({"type": "websocket.send", "text": text})

    async def close(self, code: int, reason: str = "") -> None:
        await self._send({"type": "websocket.close", "code": code, "reason": reason[:120]})


async def accept_websocket(
    send: Any, subprotocol: str | None = None, *, compression: bool = False
) -> WebsocketOut:
    """Accept a raw WebSocket. Without `compression`, a client's permessage-deflate offer is
    declined (hypercorn would otherwise always take it: some 250 KB of zlib state per connection
    and a compression per message, little gain on small messages), which also lets frames be
    written directly (`WebsocketOut.direct`) when the server is hypercorn over HTTP/1.1."""
    stream, transport = _hypercorn_parts(send)
    if stream is not None and not compression:
        stream.handshake.extensions = None
    if stream is None or stream.handshake.extensions:
        transport = None  # negotiated extensions transform frames: only the server may write
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    return WebsocketOut(send, transport)


def _hypercorn_parts(send: Any) -> tuple[Any, Any]:
    """hypercorn's WebSocket stream behind an ASGI `send`, and the TCP transport under it when
    that is an HTTP/1.1 connection of its asyncio worker; (None, None) for any other server.
    hypercorn is pinned to a minor version; tests/kernel/test_websocket_routes.py checks that
    this still finds both."""
    try:
        from hypercorn.asyncio.tcp_server import TCPServer
        from hypercorn.protocol.h11 import H11Protocol
        from hypercorn.protocol.ws_stream import WSStream
    except ImportError:
        return None, None
    stream = getattr(send, "__self__", None)
    if not isinstance(stream, WSStream) or not hasattr(stream, "handshake"):
        return None, None
    protocol = getattr(stream.send, "__self__", None)
    server = getattr(getattr(protocol, "send", None), "__self__", None)
    if not isinstance(protocol, H11Protocol) or not isinstance(server, TCPServer):
        return stream, None
    return stream, server.writer.transport
