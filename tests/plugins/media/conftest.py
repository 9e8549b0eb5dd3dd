"""Fixtures of the media tests: an app with users, meetings, media (and ffmpeg), and people."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage

MEDIA_PLUGINS = ["users", "meetings", "media", "ffmpeg"]


@pytest.fixture
async def media_client(make_client: Any) -> Any:
    async with make_client(plugins={"enabled": MEDIA_PLUGINS}, ratelimit={"enabled": False}) as c:
        yield c


@pytest.fixture
def people(media_client: Any, people_of: Any) -> Any:
    return people_of(media_client)


async def upload(client: Any, headers: dict, content: bytes, name: str, **fields: str) -> Any:
    files = {"file": FileStorage(io.BytesIO(content), filename=name, content_type="video/mp4")}
    return await client.post(
        "/api/v1/media/upload", headers=headers, files=files, form=fields or None
    )


async def meeting_with(client: Any, host: dict, *members: dict) -> int:
    start = datetime.now(UTC) + timedelta(minutes=5)
    response = await client.post(
        "/api/v1/meetings",
        headers=host,
        json={
            "title": "media",
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(hours=1)).isoformat(),
            "max_participants": 10,
        },
    )
    meeting_id = (await response.get_json())["data"]["meeting_id"]
    for member in members:
        joined = await client.post(f"/api/v1/meetings/{meeting_id}/join", headers=member, json={})
        assert joined.status_code == 200, await joined.get_json()
    return meeting_id


@pytest.fixture
def helpers() -> Any:
    helpers = {"upload": staticmethod(upload), "meeting": staticmethod(meeting_with)}
    return type("Helpers", (), helpers)
