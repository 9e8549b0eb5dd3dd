"""Fixtures of the meetings tests: an app with meetings + my-meetings, and quick users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.auth.models import Role, User

# Users are made directly with a fixed hash: argon2 per user would make the 20-user tests slow.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$placeholder$placeholder"


class People:
    """Users of one test: `await people.add("ann")` → (user, auth headers)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.platform = client.app.extensions["platform"]

    async def add(self, name: str, admin: bool = False) -> tuple[User, dict[str, str]]:
        user = await User.create(
            username=name,
            email=f"{name}@example.com",
            password_hash=PASSWORD_HASH,
            role=Role.ADMIN if admin else Role.USER,
        )
        token, _ = self.platform.tokens.issue_access(user.id, str(user.role), "test")
        return user, {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def meetings_client(make_client, db_overrides):
    async with make_client(
        plugins={"enabled": ["meetings", "my-meetings"]},
        ratelimit={"enabled": False},
        **db_overrides,
    ) as client:
        yield client


@pytest.fixture
async def sqlite_client(make_client):
    async with make_client(
        plugins={"enabled": ["meetings", "my-meetings"]}, ratelimit={"enabled": False}
    ) as client:
        yield client


@pytest.fixture
def people(sqlite_client) -> People:
    return People(sqlite_client)


def meeting_payload(**overrides: Any) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=1)
    payload = {
        "title": "Weekly sync",
        "description": "status and plans",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=1)).isoformat(),
        "max_participants": 10,
        "meeting_type": "video",
    }
    return payload | overrides


@pytest.fixture
def payload():
    return meeting_payload
