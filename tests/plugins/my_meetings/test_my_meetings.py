"""My meetings (35-37): created or joined; upcoming soonest first; history newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kernel.auth.models import User
from plugins.meetings.models import Meeting, MeetingStatus

PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$placeholder$placeholder"


@pytest.fixture
async def client(make_client, db_overrides):
    async with make_client(
        plugins={"enabled": ["meetings", "my-meetings"]},
        ratelimit={"enabled": False},
        **db_overrides,
    ) as c:
        yield c


async def person(client, name):
    user = await User.create(
        username=name, email=f"{name}@example.com", password_hash=PASSWORD_HASH
    )
    token, _ = client.app.extensions["platform"].tokens.issue_access(user.id, "user", "t")
    return user, {"Authorization": f"Bearer {token}"}


async def create(client, headers, title, start_in_hours, hours=1):
    start = datetime.now(UTC) + timedelta(hours=start_in_hours)
    response = await client.post(
        "/api/v1/meetings",
        headers=headers,
        json={
            "title": title,
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(hours=hours)).isoformat(),
            "max_participants": 5,
        },
    )
    return (await response.get_json())["data"]["meeting_id"]


async def titles(client, headers, path, **query):
    response = await client.get(f"/api/v1/my/meetings{path}", headers=headers, query_string=query)
    body = await response.get_json()
    assert response.status_code == 200, body
    return [m["title"] for m in body["data"]["meetings"]], body["data"]


async def test_created_joined_upcoming_and_history(client):
    _, ann = await person(client, "ann")
    _, bob = await person(client, "bob")
    await create(client, ann, "ann tomorrow", 24)
    await create(client, ann, "ann in an hour", 1)
    await create(client, ann, "ann last week", -24 * 7)
    ended = await create(client, ann, "ann ended early", 2)
    cancelled = await create(client, ann, "ann cancelled", 3)
    bobs = await create(client, bob, "bob's review", 5)
    await create(client, bob, "bob alone", 6)
    await client.post(f"/api/v1/meetings/{ended}/start", headers=ann)
    await client.post(f"/api/v1/meetings/{ended}/end", headers=ann)
    await client.put(f"/api/v1/meetings/{cancelled}", headers=ann, json={"status": "cancelled"})
    await client.post(f"/api/v1/meetings/{bobs}/join", headers=ann)

    everything, data = await titles(client, ann, "")
    assert set(everything) == {
        "ann tomorrow",
        "ann in an hour",
        "ann last week",
        "ann ended early",
        "ann cancelled",
        "bob's review",
    }
    assert data["total"] == 6
    upcoming, _ = await titles(client, ann, "/upcoming")
    assert upcoming == ["ann in an hour", "bob's review", "ann tomorrow"]
    history, _ = await titles(client, ann, "/history")
    assert history == ["ann ended early", "ann last week"]
    page, data = await titles(client, ann, "/upcoming", page=2, page_size=2)
    assert page == ["ann tomorrow"] and (data["total"], data["page"]) == (3, 2)
    assert set(data["meetings"][0]) == {
        "meeting_id",
        "title",
        "start_time",
        "end_time",
        "status",
        "participant_count",
    }
    bob_sees, _ = await titles(client, bob, "")
    assert set(bob_sees) == {"bob's review", "bob alone"}
    # No duplicates when the creator has also joined their meeting.
    await client.post(f"/api/v1/meetings/{bobs}/join", headers=bob)
    bob_sees, data = await titles(client, bob, "")
    assert sorted(bob_sees) == ["bob alone", "bob's review"] and data["total"] == 2
    assert (await Meeting.get(id=ended)).status == MeetingStatus.ENDED


async def test_paging_validation_and_auth(client):
    _, ann = await person(client, "ann")
    for path in ("", "/upcoming", "/history"):
        response = await client.get(f"/api/v1/my/meetings{path}")
        assert response.status_code == 401
        response = await client.get(
            f"/api/v1/my/meetings{path}", headers=ann, query_string={"page_size": 0}
        )
        body = await response.get_json()
        assert response.status_code == 422 and body["message"].startswith("page_size:")
