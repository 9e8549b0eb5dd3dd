"""Real `platform serve` processes for the SDK: it speaks HTTP and WebSocket, never in-process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from platform_client import PlatformClient

REST_PLUGINS = '["users", "meetings", "signaling", "media", "recording", "webrtc"]'


@pytest.fixture
async def connect() -> AsyncIterator[Callable[..., Any]]:
    """`await connect(server, name)`: a registered, logged-in PlatformClient (closed afterwards)."""
    clients: list[PlatformClient] = []

    async def make(server: Any, name: str, **options: Any) -> PlatformClient:
        client = PlatformClient(server.url, **options)
        clients.append(client)
        await client.register(name, f"{name}@example.com", "secret-pass")
        await client.login(name, "secret-pass")
        return client

    yield make
    for client in clients:
        await client.aclose()


class Proxy:
    """A TCP relay in front of a server whose connections a test can cut, as a network would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.pairs: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.pairs.append((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def cut(self) -> int:
        """Reset every open connection on both sides (no close frames); how many were cut."""
        cut = 0
        for client, upstream in self.pairs:
            if not client.is_closing():
                cut += 1
            client.transport.abort()
            upstream.transport.abort()
        self.pairs.clear()
        return cut

    async def stop(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


@pytest.fixture
async def proxy_to() -> AsyncIterator[Callable[..., Any]]:
    """`await proxy_to(server)`: a cuttable TCP relay to the server (`.url`, `.cut()`)."""
    proxies: list[Proxy] = []

    async def make(server: Any) -> Proxy:
        proxy = await Proxy(server.port).start()
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        await proxy.stop()
