"""Signaling test helpers: an app with meetings + signaling, users, and socket helpers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.auth.models import Role, User

PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$placeholder$placeholder"
FAST = {"heartbeat_interval": 30, "reconnect_grace": 0.3}


class Room:
    """A started meeting and the people in it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.platform = client.app.extensions["platform"]
        self.meeting_id: int | None = None
        self.tokens: dict[str, str] = {}
        self.users: dict[str, User] = {}

    async def person(self, name: str, admin: bool = False) -> str:
        user = await User.create(
            username=name,
            email=f"{name}@example.com",
            password_hash=PASSWORD_HASH,
            role=Role.ADMIN if admin else Role.USER,
        )
        token, _ = self.platform.tokens.issue_access(user.id, str(user.role), "test")
        self.users[name], self.tokens[name] = user, token
        return token

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def create(self, host: str = "hana", **settings: Any) -> int:
        await self.person(host)
        start = datetime.now(UTC) + timedelta(hours=1)
        response = await self.client.post(
            "/api/v1/meetings",
            headers=self.headers(host),
            json={
                "title": "Standup",
                "start_time": start.isoformat(),
                "end_time": (start + timedelta(hours=1)).isoformat(),
                "max_participants": 10,
                "settings": settings,
            },
        )
        self.meeting_id = (await response.get_json())["data"]["meeting_id"]
        await self.client.post(
            f"/api/v1/meetings/{self.meeting_id}/start", headers=self.headers(host)
        )
        return self.meeting_id

    def socket(self, name: str, **params: Any):
        query = "&".join(
            f"{k}={v}"
            for k, v in {
                "meeting_id": self.meeting_id,
                "token": self.tokens[name],
                **params,
            }.items()
        )
        return self.client.websocket(f"/ws/signaling?{query}")


async def receive(ws, kind: str | None = None, wait: float = 3) -> dict:
    """The next message (of `kind`, skipping pings and others)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.receive(), wait))
        if message["type"] == "ping" and kind != "ping":
            continue
        if kind is None or message["type"] == kind:
            return message


async def nothing_more(ws, kind: str, within: float = 0.5) -> None:
    """No message of `kind` arrives within `within` seconds."""
    try:
        while True:
            message = json.loads(await asyncio.wait_for(ws.receive(), within))
            assert message["type"] != kind, message
    except TimeoutError:
        return


@pytest.fixture
async def room_client(make_client):
    async with make_client(
        plugins={"enabled": ["meetings", "signaling"]}, ratelimit={"enabled": False}, signaling=FAST
    ) as client:
        yield client


@pytest.fixture
async def room(room_client) -> Room:
    return Room(room_client)
