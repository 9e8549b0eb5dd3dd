"""Fixtures of the meetings tests: an app with meetings + my-meetings, and quick users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest


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
def people(sqlite_client, people_of):
    return people_of(sqlite_client)


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
