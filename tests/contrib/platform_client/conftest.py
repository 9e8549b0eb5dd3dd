"""Real `platform serve` processes for the SDK: it speaks HTTP and WebSocket, never in-process."""

from __future__ import annotations

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
