"""Meetings (17-34): lifecycle, joining, participants, chat, recording, validation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from kernel.api import hookimpl
from plugins.meetings.models import ChatMessage, Meeting, Participant

from .conftest import meeting_payload


async def create(client, headers, **overrides):
    response = await client.post(
        "/api/v1/meetings", json=meeting_payload(**overrides), headers=headers
    )
    body = await response.get_json()
    assert response.status_code == 201, body
    return body["data"]


async def call(client, method, path, headers=None, **kwargs):
    response = await getattr(client, method)(path, headers=headers or {}, **kwargs)
    return response.status_code, await response.get_json()


# -- create, read, list ----------------------------------------------------------------------


async def test_create_and_get(sqlite_client, people):
    _, host = await people.add("hana")
    data = await create(
        sqlite_client, host, password="open-sesame", settings={"enable_chat": False}
    )
    assert data["status"] == "scheduled"
    assert data["settings"] == {
        "enable_recording": False,
        "enable_chat": False,
        "enable_screen_share": True,
        "enable_waiting_room": False,
        "mute_on_join": False,
        "enable_captions": False,
    }
    assert data["has_password"] is True and "password" not in data
    assert data["room_url"] == f"ws://localhost/ws/signaling?meeting_id={data['meeting_id']}"
    assert data["start_time"].endswith("Z")
    status, body = await call(sqlite_client, "get", f"/api/v1/meetings/{data['meeting_id']}", host)
    assert status == 200 and body["data"]["title"] == "Weekly sync"
    assert "open-sesame" not in str(body)
    stored = await Meeting.get(id=data["meeting_id"])
    assert stored.password_hash.startswith("$argon2")
    # The creator is the host from the start.
    host_row = await Participant.get(meeting_id=data["meeting_id"])
    assert host_row.role == "host" and host_row.status == "offline"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 101}, "title"),
        ({"description": "x" * 501}, "description"),
        ({"max_participants": 0}, "max_participants"),
        ({"max_participants": 1001}, "max_participants"),
        ({"max_participants": "ten"}, "max_participants"),
        ({"meeting_type": "hologram"}, "meeting_type"),
        ({"start_time": "tomorrow"}, "start_time"),
        ({"start_time": 0}, "start_time"),  # not Unix seconds: a number is a client's bug
        ({"end_time": 1900000000.5}, "end_time"),
        ({"password": "p" * 51}, "password"),
        ({"settings": {"enable_chat": "maybe"}}, "settings.enable_chat"),
        ({"settings": {"enable_teleport": True}}, "settings.enable_teleport"),
        ({"owner": 5}, "owner"),
    ],
)
async def test_create_validation(sqlite_client, people, overrides, field):
    _, host = await people.add("hana")
    status, body = await call(
        sqlite_client, "post", "/api/v1/meetings", host, json=meeting_payload(**overrides)
    )
    assert status == 422, body
    assert body["message"].startswith(f"{field}:")
    assert await Meeting.all().count() == 0


async def test_end_before_start_is_refused(sqlite_client, people):
    _, host = await people.add("hana")
    start = datetime.now(UTC) + timedelta(hours=2)
    status, body = await call(
        sqlite_client,
        "post",
        "/api/v1/meetings",
        host,
        json=meeting_payload(
            start_time=start.isoformat(), end_time=(start - timedelta(minutes=5)).isoformat()
        ),
    )
    assert status == 422 and "end_time must be after start_time" in body["message"]
    assert await Meeting.all().count() == 0


async def test_unknown_meeting_is_2001(sqlite_client, people):
    _, user = await people.add("uma")
    for method, path in [
        ("get", "/api/v1/meetings/999"),
        ("post", "/api/v1/meetings/999/join"),
        ("post", "/api/v1/meetings/999/start"),
        ("get", "/api/v1/meetings/999/participants"),
    ]:
        status, body = await call(sqlite_client, method, path, user)
        assert (status, body["code"]) == (404, 2001), path
    status, _ = await call(sqlite_client, "get", "/api/v1/meetings/not-a-number", user)
    assert status == 404


async def test_list_with_filters_and_paging(sqlite_client, people):
    _, host = await people.add("hana")
    for i in range(5):
        await create(sqlite_client, host, title=f"Planning {i}" if i % 2 else f"Retro {i}")
    status, body = await call(
        sqlite_client, "get", "/api/v1/meetings", host, query_string={"page": 2, "page_size": 2}
    )
    assert status == 200
    assert (body["data"]["total"], body["data"]["page"], body["data"]["page_size"]) == (5, 2, 2)
    assert len(body["data"]["meetings"]) == 2
    assert set(body["data"]["meetings"][0]) == {
        "meeting_id",
        "title",
        "start_time",
        "end_time",
        "status",
        "participant_count",
    }
    _, body = await call(
        sqlite_client, "get", "/api/v1/meetings", host, query_string={"keyword": "retro"}
    )
    assert body["data"]["total"] == 3
    _, body = await call(
        sqlite_client, "get", "/api/v1/meetings", host, query_string={"status": "ongoing"}
    )
    assert body["data"]["total"] == 0
    for bad in ({"page": 0}, {"page_size": 101}, {"status": "paused"}, {"page": "x"}):
        status, body = await call(sqlite_client, "get", "/api/v1/meetings", host, query_string=bad)
        assert status == 422 and body["message"].startswith(f"{next(iter(bad))}:"), bad


# -- lifecycle ---------------------------------------------------------------------------------


async def test_start_join_leave_end(meetings_client, people_of):
    people = people_of(meetings_client)
    _, host = await people.add("hana")
    guest_user, guest = await people.add("gus")
    meeting = await create(meetings_client, host)
    mid = meeting["meeting_id"]
    status, body = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/start", guest)
    assert status == 403
    status, body = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/start", host)
    assert status == 200 and body["data"]["status"] == "ongoing"
    assert body["data"]["room_url"].endswith(f"/ws/signaling?meeting_id={mid}")

    status, body = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/join", guest)
    assert status == 200, body
    joined = body["data"]
    assert joined["status"] == "online" and joined["ice_servers"] == []
    # Joining twice is idempotent: same participant, one seat.
    status, again = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/join", guest)
    assert again["data"]["participant_id"] == joined["participant_id"]
    assert (await Meeting.get(id=mid)).seats_taken == 1

    status, body = await call(meetings_client, "get", f"/api/v1/meetings/{mid}/participants", guest)
    assert status == 200 and body["data"]["total"] == 2
    roles = {p["username"]: (p["role"], p["status"]) for p in body["data"]["participants"]}
    assert roles == {"hana": ("host", "offline"), "gus": ("participant", "online")}

    status, _ = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/leave", guest)
    assert status == 200
    assert (await Meeting.get(id=mid)).seats_taken == 0
    status, _ = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/leave", guest)
    assert status == 409

    await call(meetings_client, "post", f"/api/v1/meetings/{mid}/join", guest)
    status, _ = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/end", guest)
    assert status == 403
    status, body = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/end", host)
    assert status == 200 and body["data"]["status"] == "ended"
    assert await Participant.filter(meeting_id=mid, status="online").count() == 0
    assert guest_user.id in [p.user_id for p in await Participant.filter(meeting_id=mid)]
    status, body = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/join", guest)
    assert (status, body["code"]) == (409, 2002)
    status, body = await call(meetings_client, "post", f"/api/v1/meetings/{mid}/start", host)
    assert (status, body["code"]) == (409, 2002)


async def test_meeting_password(sqlite_client, people):
    _, host = await people.add("hana")
    _, guest = await people.add("gus")
    mid = (await create(sqlite_client, host, password="open-sesame"))["meeting_id"]
    for body in ({}, {"password": "wrong"}):
        status, answer = await call(
            sqlite_client, "post", f"/api/v1/meetings/{mid}/join", guest, json=body
        )
        assert (status, answer["code"]) == (403, 2004)
    assert await Participant.filter(meeting_id=mid).count() == 1  # only the host
    status, _ = await call(
        sqlite_client,
        "post",
        f"/api/v1/meetings/{mid}/join",
        guest,
        json={"password": "open-sesame"},
    )
    assert status == 200
    # The host needs no password.
    status, _ = await call(sqlite_client, "post", f"/api/v1/meetings/{mid}/join", host)
    assert status == 200


async def test_full_meeting_is_2003(sqlite_client, people):
    _, host = await people.add("hana")
    mid = (await create(sqlite_client, host, max_participants=1))["meeting_id"]
    _, first = await people.add("fay")
    _, second = await people.add("sid")
    assert (await call(sqlite_client, "post", f"/api/v1/meetings/{mid}/join", first))[0] == 200
    status, body = await call(sqlite_client, "post", f"/api/v1/meetings/{mid}/join", second)
    assert (status, body["code"]) == (409, 2003)
    assert await Participant.filter(meeting_id=mid).count() == 2  # host + first, nothing else


async def test_max_participants_holds_under_concurrent_joins(meetings_client, people_of):
    people = people_of(meetings_client)
    _, host = await people.add("hana")
    mid = (await create(meetings_client, host, max_participants=10))["meeting_id"]
    guests = [(await people.add(f"guest{i}"))[1] for i in range(20)]
    responses = await asyncio.gather(
        *(meetings_client.post(f"/api/v1/meetings/{mid}/join", headers=g) for g in guests)
    )
    codes = sorted([r.status_code for r in responses])
    assert codes == [200] * 10 + [409] * 10
    bodies = [await r.get_json() for r in responses if r.status_code == 409]
    assert {b["code"] for b in bodies} == {2003}
    assert await Participant.filter(meeting_id=mid, status="online").count() == 10
    assert (await Meeting.get(id=mid)).seats_taken == 10


async def test_waiting_room_and_admission(sqlite_client, people):
    _, host = await people.add("hana")
    guest_user, guest = await people.add("gus")
    mid = (await create(sqlite_client, host, settings={"enable_waiting_room": True}))["meeting_id"]
    status, body = await call(sqlite_client, "post", f"/api/v1/meetings/{mid}/join", guest)
    assert status == 200 and body["data"]["status"] == "waiting"
    assert (await Meeting.get(id=mid)).seats_taken == 0
    # Someone waiting is not yet in: no chat, no participant list.
    status, _ = await call(
        sqlite_client,
        "post",
        f"/api/v1/meetings/{mid}/messages",
        guest,
        json={"content": "let me in"},
    )
    assert status == 403
    status, body = await call(
        sqlite_client,
        "post",
        f"/api/v1/meetings/{mid}/participants",
        host,
        json={"user_id": guest_user.id},
    )
    assert status == 201 and body["data"]["status"] == "online"
    assert (await Meeting.get(id=mid)).seats_taken == 1


async def test_update_and_cancel(sqlite_client, people):
    host_user, host = await people.add("hana")
    mod_user, mod = await people.add("moe")
    _, guest = await people.add("gus")
    mid = (await create(sqlite_client, host))["meeting_id"]
    await call(
        sqlite_client,
        "post",
        f"/api/v1/meetings/{mid}/participants",
        host,
        json={"user_id": mod_user.id, "role": "moderator"},
    )
    status, _ = await call(
        sqlite_client, "put", f"/api/v1/meetings/{mid}", guest, json={"title": "mine now"}
    )
    assert status == 403
    status, body = await call(
        sqlite_client,
        "put",
        f"/api/v1/meetings/{mid}",
        mod,
        json={"title": "Renamed", "settings": {"enable_chat": False}, "password": "secret-1"},
    )
    assert status == 200, body
    data = body["data"]
    assert data["title"] == "Renamed" and data["has_password"]
    assert data["settings"]["enable_chat"] is False and data["settings"]["enable_screen_share"]
    # End before start, judged against the stored start.
    status, body = await call(
        sqlite_client,
        "put",
        f"/api/v1/meetings/{mid}",
        host,
        json={"end_time": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
    )
    assert status == 422 and body["message"].startswith("end_time:")
    for bad in ({"title": None}, {"max_participants": 0}, {"status": "ongoing"}):
        status, body = await call(sqlite_client, "put", f"/api/v1/meetings/{mid}", host, json=bad)
        assert status == 422, bad
    assert (await Meeting.get(id=mid)).title == "Renamed"
    status, body = await call(
        sqlite_client,
        "put",
        f"/api/v1/meetings/{mid}",
        host,
        json={"password": None, "status": "cancelled"},
    )
    assert status == 200 and body["data"]["status"] == "cancelled"
    assert body["data"]["has_password"] is False
    status, body = await call(
        sqlite_client, "put", f"/api/v1/meetings/{mid}", host, json={"title": "again"}
    )
    assert (status, body["code"]) == (409, 2002)
    assert host_user  # the creator


async def test_delete_only_by_creator(sqlite_client, people):
    _, host = await people.add("hana")
    mod_user, mod = await people.add("moe")
    _, admin = await people.add("ada", admin=True)
    mid = (await create(sqlite_client, host))["meeting_id"]
    await call(
        sqlite_client,
        "post",
        f"/api/v1/meetings/{mid}/participants",
        host,
        json={"user_id": mod_user.id, "role": "moderator"},
    )
    await call(
        sqlite_client, "post", f"/api/v1/meetings/{mid}/messages", host, json={"content": "hello"}
    )
    status, _ = await call(sqlite_client, "delete", f"/api/v1/meetings/{mid}", mod)
    assert status == 403
    status, _ = await call(sqlite_client, "delete", f"/api/v1/meetings/{mid}", host)
    assert status == 200
    assert await Meeting.filter(id=mid).count() == 0
    assert await Participant.filter(meeting_id=mid).count() == 0
    assert await ChatMessage.filter(meeting_id=mid).count() == 0
    other = (await create(sqlite_client, host))["meeting_id"]
    status, _ = await call(sqlite_client, "delete", f"/api/v1/meetings/{other}", admin)
    assert status == 200


# -- participants --------------------------------------------------------------------------


async def test_participants_add_remove_and_roles(sqlite_client, people):
    host_user, host = await people.add("hana")
    mod_user, mod = await people.add("moe")
    p_user, part = await people.add("pat")
    o_user, outsider = await people.add("oz")
    mid = (await create(sqlite_client, host))["meeting_id"]
    base = f"/api/v1/meetings/{mid}/participants"

    status, body = await call(
        sqlite_client, "post", base, host, json={"user_id": mod_user.id, "role": "moderator"}
    )
    assert status == 201 and body["data"]["role"] == "moderator"
    status, body = await call(sqlite_client, "post", base, host, json={"user_id": mod_user.id})
    assert status == 409
    status, body = await call(sqlite_client, "post", base, host, json={"user_id": 9999})
    assert (status, body["code"]) == (404, 1003)
    status, body = await call(
        sqlite_client, "post", base, host, json={"user_id": p_user.id, "role": "host"}
    )
    assert status == 422
    status, _ = await call(sqlite_client, "post", base, mod, json={"user_id": p_user.id})
    assert status == 201
    status, _ = await call(sqlite_client, "post", base, part, json={"user_id": o_user.id})
    assert status == 403
    status, _ = await call(sqlite_client, "get", base, outsider)
    assert status == 403

    # Roles: only the host; the host role is handed over, never lost.
    status, _ = await call(
        sqlite_client, "put", f"{base}/{p_user.id}/role", mod, json={"role": "moderator"}
    )
    assert status == 403
    status, body = await call(
        sqlite_client, "put", f"{base}/{host_user.id}/role", host, json={"role": "participant"}
    )
    assert status == 409
    status, body = await call(
        sqlite_client, "put", f"{base}/{p_user.id}/role", host, json={"role": "host"}
    )
    assert status == 200 and body["data"]["role"] == "host"
    hosts = await Participant.filter(meeting_id=mid, role="host").values_list("user_id", flat=True)
    assert hosts == [p_user.id]
    assert (await Participant.get(meeting_id=mid, user_id=host_user.id)).role == "moderator"
    status, _ = await call(
        sqlite_client, "put", f"{base}/{o_user.id}/role", part, json={"role": "moderator"}
    )
    assert status == 404  # not a participant
    status, _ = await call(
        sqlite_client, "put", f"{base}/{mod_user.id}/role", part, json={"role": "king"}
    )
    assert status == 422

    # Removal: moderators remove participants, only the host removes moderators.
    await call(sqlite_client, "post", base, part, json={"user_id": o_user.id})
    status, _ = await call(sqlite_client, "delete", f"{base}/{host_user.id}", mod)
    assert status == 403  # hana is a moderator now
    status, _ = await call(sqlite_client, "delete", f"{base}/{p_user.id}", part)
    assert status == 409  # the host cannot be removed
    status, _ = await call(sqlite_client, "delete", f"{base}/{o_user.id}", mod)
    assert status == 200
    assert not await Participant.filter(meeting_id=mid, user_id=o_user.id).exists()
    status, _ = await call(sqlite_client, "delete", f"{base}/{o_user.id}", mod)
    assert status == 404


async def test_events_of_the_meeting_lifecycle(make_client, recorder, people_of):
    async with make_client(extra_plugins=[recorder], plugins={"enabled": ["meetings"]}) as client:
        people = people_of(client)
        _, host = await people.add("hana")
        guest_user, guest = await people.add("gus")
        mid = (await create(client, host))["meeting_id"]
        base = f"/api/v1/meetings/{mid}"
        await call(client, "put", base, host, json={"title": "New"})
        await call(client, "post", f"{base}/start", host)
        await call(client, "post", f"{base}/join", guest)
        await call(client, "post", f"{base}/messages", guest, json={"content": "hi all"})
        await call(
            client,
            "put",
            f"{base}/participants/{guest_user.id}/role",
            host,
            json={"role": "moderator"},
        )
        await call(client, "post", f"{base}/leave", guest)
        await call(client, "post", f"{base}/join", guest)
        await call(client, "delete", f"{base}/participants/{guest_user.id}", host)
        await call(client, "post", f"{base}/end", host)
        await call(client, "delete", base, host)
    names = [event.name for event in recorder.events]
    assert names == [
        "meeting.created",
        "meeting.updated",
        "meeting.started",
        "participant.joined",
        "chat.message",
        "participant.role_changed",
        "participant.left",
        "participant.joined",
        "participant.removed",
        "meeting.ended",
        "meeting.deleted",
    ]
    chat = recorder.named("chat.message")[0]
    assert chat["content"] == "hi all" and chat["meeting_id"] == mid
    assert recorder.named("participant.removed")[0]["user_id"] == guest_user.id


# -- chat ----------------------------------------------------------------------------------------


async def test_chat_paging_newest_last(sqlite_client, people):
    _, host = await people.add("hana")
    _, outsider = await people.add("oz")
    mid = (await create(sqlite_client, host))["meeting_id"]
    await call(sqlite_client, "post", f"/api/v1/meetings/{mid}/join", host)
    for i in range(5):
        status, body = await call(
            sqlite_client,
            "post",
            f"/api/v1/meetings/{mid}/messages",
            host,
            json={"content": f"message {i}"},
        )
        assert status == 201 and body["data"]["message_id"] and body["data"]["timestamp"]
    status, body = await call(
        sqlite_client,
        "get",
        f"/api/v1/meetings/{mid}/messages",
        host,
        query_string={"page_size": 2},
    )
    assert status == 200 and body["data"]["total"] == 5
    assert [m["content"] for m in body["data"]["messages"]] == ["message 3", "message 4"]
    _, body = await call(
        sqlite_client,
        "get",
        f"/api/v1/meetings/{mid}/messages",
        host,
        query_string={"page_size": 2, "page": 3},
    )
    assert [m["content"] for m in body["data"]["messages"]] == ["message 0"]
    assert body["data"]["messages"][0]["username"] == "hana"
    status, _ = await call(sqlite_client, "get", f"/api/v1/meetings/{mid}/messages", outsider)
    assert status == 403
    status, _ = await call(
        sqlite_client,
        "post",
        f"/api/v1/meetings/{mid}/messages",
        outsider,
        json={"content": "let me talk"},
    )
    assert status == 403


@pytest.mark.parametrize("content", ["", "   ", "x" * 1001, 5, None])
async def test_chat_validation(sqlite_client, people, content):
    _, host = await people.add("hana")
    mid = (await create(sqlite_client, host))["meeting_id"]
    status, body = await call(
        sqlite_client, "post", f"/api/v1/meetings/{mid}/messages", host, json={"content": content}
    )
    assert status == 422 and body["message"].startswith("content:")
    assert await ChatMessage.all().count() == 0


async def test_chat_disabled_is_403(sqlite_client, people):
    _, host = await people.add("hana")
    mid = (await create(sqlite_client, host, settings={"enable_chat": False}))["meeting_id"]
    status, body = await call(
        sqlite_client, "post", f"/api/v1/meetings/{mid}/messages", host, json={"content": "hello"}
    )
    assert status == 403 and "chat is disabled" in body["message"]


# -- recording ---------------------------------------------------------------------------------


class FakeRecorder:
    """Stands in for the recording plugin (issue 6) at its hook boundary."""

    plugin_name = "fake-recording"

    def __init__(self) -> None:
        self.started: list = []

    @hookimpl
    async def meeting_recording_start(self, meeting_id, user_id, options):
        self.started.append((meeting_id, user_id, options))
        return {"recording_id": 41}

    @hookimpl
    def meeting_recording_stop(self, meeting_id, user_id):
        return {"recording_id": 41, "status": "processing"}

    @hookimpl
    def meeting_recordings(self, meeting_id):
        return [{"recording_id": 41, "meeting_id": meeting_id, "status": "processing"}]


async def test_recording_without_a_recording_plugin_is_503(sqlite_client, people):
    _, host = await people.add("hana")
    mid = (await create(sqlite_client, host, settings={"enable_recording": True}))["meeting_id"]
    for method, path in (
        ("post", "recording/start"),
        ("post", "recording/stop"),
        ("get", "recordings"),
    ):
        status, body = await call(sqlite_client, method, f"/api/v1/meetings/{mid}/{path}", host)
        assert status == 503 and "no recording plugin" in body["message"], path


async def test_recording_is_delegated_to_the_recording_plugin(make_client, people_of):
    recorder = FakeRecorder()
    async with make_client(extra_plugins=[recorder], plugins={"enabled": ["meetings"]}) as client:
        people = people_of(client)
        host_user, host = await people.add("hana")
        _, guest = await people.add("gus")
        off = (await create(client, host))["meeting_id"]
        status, body = await call(client, "post", f"/api/v1/meetings/{off}/recording/start", host)
        assert status == 403 and "disabled" in body["message"]
        mid = (await create(client, host, settings={"enable_recording": True}))["meeting_id"]
        status, _ = await call(client, "post", f"/api/v1/meetings/{mid}/recording/start", guest)
        assert status == 403
        status, body = await call(
            client,
            "post",
            f"/api/v1/meetings/{mid}/recording/start",
            host,
            json={"quality": "720p"},
        )
        assert status == 201 and body["data"] == {"recording_id": 41}
        assert recorder.started == [(mid, host_user.id, {"quality": "720p"})]
        status, body = await call(
            client, "post", f"/api/v1/meetings/{mid}/recording/start", host, json={"quality": "8k"}
        )
        assert status == 422
        status, body = await call(client, "get", f"/api/v1/meetings/{mid}/recordings", host)
        assert status == 200 and body["data"]["recordings"][0]["recording_id"] == 41


# -- anonymous ---------------------------------------------------------------------------------


async def test_every_endpoint_needs_a_token(sqlite_client):
    paths = [
        ("post", ""),
        ("get", ""),
        ("get", "/1"),
        ("put", "/1"),
        ("delete", "/1"),
        ("post", "/1/start"),
        ("post", "/1/end"),
        ("post", "/1/join"),
        ("post", "/1/leave"),
        ("get", "/1/participants"),
        ("post", "/1/participants"),
        ("delete", "/1/participants/2"),
        ("put", "/1/participants/2/role"),
        ("post", "/1/recording/start"),
        ("post", "/1/recording/stop"),
        ("get", "/1/recordings"),
        ("get", "/1/messages"),
        ("post", "/1/messages"),
    ]
    for method, path in paths:
        status, body = await call(sqlite_client, method, f"/api/v1/meetings{path}")
        assert status == 401, (method, path, body)


# -- deleted hosts ---------------------------------------------------------------------------


async def test_a_deleted_hosts_meetings_keep_working_or_end(sqlite_client, people):
    """What the meetings plugin does on `user.deleted` (published by the users plugin)."""
    host_user, host = await people.add("hana")
    mod_user, mod = await people.add("moe")
    guest_user, guest = await people.add("gus")
    scheduled = (await create(sqlite_client, host))["meeting_id"]
    lively = (await create(sqlite_client, host))["meeting_id"]
    lonely = (await create(sqlite_client, host))["meeting_id"]
    for mid in (lively, lonely):
        await call(sqlite_client, "post", f"/api/v1/meetings/{mid}/start", host)
        await call(sqlite_client, "post", f"/api/v1/meetings/{mid}/join", host)
    await call(sqlite_client, "post", f"/api/v1/meetings/{lively}/join", guest)
    await call(sqlite_client, "post", f"/api/v1/meetings/{lively}/join", mod)
    await call(
        sqlite_client,
        "put",
        f"/api/v1/meetings/{lively}/participants/{mod_user.id}/role",
        host,
        json={"role": "moderator"},
    )

    async with sqlite_client.app.app_context():
        from kernel.api import publish

        await publish("user.deleted", user_id=host_user.id)

    assert (await Meeting.get(id=scheduled)).status == "cancelled"
    assert (await Meeting.get(id=lonely)).status == "ended"
    live = await Meeting.get(id=lively)
    assert live.status == "ongoing" and live.seats_taken == 2
    new_host = await Participant.get(meeting_id=lively, role="host")
    assert new_host.user_id == mod_user.id  # a moderator before a plain participant
    status, _ = await call(
        sqlite_client,
        "post",
        f"/api/v1/meetings/{lively}/messages",
        guest,
        json={"content": "still here"},
    )
    assert status == 201
    assert guest_user
