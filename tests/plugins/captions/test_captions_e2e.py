"""Live captions end to end: a real server, an aiortc participant speaking espeak's "hello world",
a second participant reading the captions over signaling, then the stored transcript."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import websockets

from tests.conftest import MeshClient

from .speech_track import SpeechTrack

PLUGINS = json.dumps(
    ["users", "meetings", "signaling", "media", "webrtc", "speech", "pocketsphinx", "captions"]
)


class Speaker(MeshClient):
    """A participant's device whose microphone says "hello world" (answers the bot's offer)."""

    def tracks(self) -> list[Any]:
        return [SpeechTrack(repeat=3, silence=1.5)]


async def captioned_meeting(meeting: Any, host: dict[str, str], title: str) -> int:
    start = datetime.now(UTC) + timedelta(minutes=1)
    created = await meeting.http.post(
        "/api/v1/meetings",
        headers=host,
        json={
            "title": title,
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(hours=1)).isoformat(),
            "max_participants": 10,
            "settings": {"enable_captions": True},
        },
    )
    assert created.status_code == 201, created.text
    assert created.json()["data"]["settings"]["enable_captions"] is True
    return created.json()["data"]["meeting_id"]


async def final_caption(ws: Any, seen: list[dict], wait: float = 60) -> dict:
    async def next_final() -> dict:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "caption":
                seen.append(message)
                if message["data"]["final"]:
                    return message
        raise AssertionError("the socket closed before a final caption")

    return await asyncio.wait_for(next_final(), wait)


async def test_captions_of_a_speaking_participant_reach_the_room_and_the_transcript(
    start_server: Any, call_on: Any
) -> None:
    server = start_server(PLATFORM_PLUGINS__ENABLED=PLUGINS, PLATFORM_RATELIMIT__ENABLED="false")
    meeting = call_on(server.url)
    hana, gus = await meeting.person("hana"), await meeting.person("gus")
    eve = await meeting.person("eve")
    meeting_id = await captioned_meeting(meeting, hana, "captioned call")
    signaling = server.url.replace("http://", "ws://") + "/ws/signaling"
    seen: list[dict] = []
    # Both join by socket alone (no REST join): the bot is brought in from the socket's event.
    listener = await websockets.connect(
        f"{signaling}?meeting_id={meeting_id}&token={meeting.tokens['gus']}"
    )
    speaker = Speaker(signaling, meeting_id, meeting.tokens["hana"], 0.0, (0, 0, 0))
    try:
        await speaker.start()  # hana comes online: the media bot joins and captions her
        final = await final_caption(listener, seen)
    finally:
        await speaker.stop()
        await listener.close()

    data = final["data"]
    assert "hello world" in data["text"]
    assert final["from"] is None and final["meeting_id"] == meeting_id
    assert data["session_id"] == speaker.session_id
    assert data["start"] < data["end"] and data["segment_id"] >= 1
    users = (await meeting.http.get("/api/v1/users/profile", headers=hana)).json()["data"]
    assert data["user_id"] == users["user_id"]
    partials = [m for m in seen if not m["data"]["final"]]
    assert all(m["data"]["session_id"] == speaker.session_id for m in partials)

    path = f"/api/v1/meetings/{meeting_id}/transcript"
    listing = await meeting.http.get(path, headers=gus, params={"page_size": 1})
    assert listing.status_code == 200, listing.text
    body = listing.json()["data"]
    assert body["page"] == 1 and body["page_size"] == 1 and body["total"] >= 1
    segment = body["segments"][0]
    assert "hello world" in segment["text"] and segment["username"] == "hana"
    assert segment["segment_id"] == data["segment_id"] and segment["start"] == data["start"]

    vtt = await meeting.http.get(path, headers=gus, params={"format": "vtt"})
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    lines = vtt.text.splitlines()
    assert lines[0] == "WEBVTT" and " --> " in lines[3]
    assert lines[4].startswith("<v hana>") and "hello world" in lines[4]
    by_accept = await meeting.http.get(path, headers={**hana, "Accept": "text/vtt"})
    assert by_accept.headers["content-type"].startswith("text/vtt")
    assert by_accept.text.startswith("WEBVTT\n") and "<v hana>hello world" in by_accept.text

    # Outsiders see nothing: not a participant 403, no such meeting 404 (2001), no token 401.
    refused = await meeting.http.get(path, headers=eve)
    assert refused.status_code == 403 and refused.json()["request_id"]
    missing = await meeting.http.get("/api/v1/meetings/99999/transcript", headers=hana)
    assert missing.status_code == 404 and missing.json()["code"] == 2001
    assert (await meeting.http.get(path)).status_code == 401
    bad = await meeting.http.get(path, headers=gus, params={"format": "srt"})
    assert bad.status_code in (400, 422)


async def test_a_dead_nodes_meeting_is_captioned_again_without_a_new_join(
    postgres_url: str, start_server: Any, call_on: Any
) -> None:
    import asyncpg

    server = start_server(
        PLATFORM_DATABASE_URL=postgres_url,
        PLATFORM_PLUGINS__ENABLED=PLUGINS,
        PLATFORM_RATELIMIT__ENABLED="false",
        PLATFORM_CAPTIONS__STALE_AFTER="2",
    )
    meeting = call_on(server.url)
    hana, _ = await meeting.person("hana"), await meeting.person("gus")
    meeting_id = await captioned_meeting(meeting, hana, "captioned by a node that dies")
    # Another node ("node-gone") captions this meeting and confirms it until everyone is in,
    # then dies: nobody joins after that.
    db = await asyncpg.connect(postgres_url)
    await db.execute(
        "INSERT INTO caption_rooms (meeting_id, node, heartbeat_at) "
        "VALUES ($1, 'node-gone', now())",
        meeting_id,
    )
    alive = True

    async def confirm() -> None:
        while alive:
            await db.execute(
                "UPDATE caption_rooms SET heartbeat_at = now() WHERE node = 'node-gone'"
            )
            await asyncio.sleep(0.3)

    confirming = asyncio.create_task(confirm())
    signaling = server.url.replace("http://", "ws://") + "/ws/signaling"
    listener = await websockets.connect(
        f"{signaling}?meeting_id={meeting_id}&token={meeting.tokens['gus']}"
    )
    speaker = Speaker(signaling, meeting_id, meeting.tokens["hana"], 0.0, (0, 0, 0))
    try:
        await speaker.start()
        await asyncio.sleep(1)
        started = f"captions of meeting {meeting_id} started"
        assert started not in server.log.read_text()  # the live node-gone has it
        alive = False
        await confirming
        final = await final_caption(listener, [])  # within 2 s + a beat, this node took over
        owner = await db.fetchval(
            "SELECT node FROM caption_rooms WHERE meeting_id = $1", meeting_id
        )
    finally:
        alive = False
        await speaker.stop()
        await listener.close()
        await db.close()
    assert "hello world" in final["data"]["text"]
    assert owner not in (None, "node-gone")
    assert (
        f"captions of meeting {meeting_id} taken over from node node-gone" in server.log.read_text()
    )


async def wait_for_log(server: Any, text: str, seconds: float = 20) -> None:
    for _ in range(int(seconds * 10)):
        if text in server.log.read_text():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not in {server.log}: {text!r}")


async def test_with_bots_on_workers_a_media_worker_captions_the_meeting(
    postgres_url: str, redis_url: str, start_server: Any, call_on: Any
) -> None:
    shared = {
        "PLATFORM_DATABASE_URL": postgres_url,
        "PLATFORM_REDIS_URL": redis_url,
        "PLATFORM_PLUGINS__ENABLED": PLUGINS,
        "PLATFORM_RATELIMIT__ENABLED": "false",
        "PLATFORM_WEBRTC__BOTS_ON": "workers",
        "PLATFORM_CAPTIONS__CLAIM_TIMEOUT": "1",
    }
    server = start_server(PLATFORM_NODE_NAME="front", **shared)
    meeting = call_on(server.url)
    hana, _ = await meeting.person("hana"), await meeting.person("gus")
    meeting_id = await captioned_meeting(meeting, hana, "captioned by a media worker")
    signaling = server.url.replace("http://", "ws://") + "/ws/signaling"
    connect = f"{signaling}?meeting_id={meeting_id}&token="

    # No worker: the server runs no bot itself and says so in its log.
    listener = await websockets.connect(connect + meeting.tokens["gus"])
    await wait_for_log(server, f"captions of meeting {meeting_id}: no media worker took them")
    await listener.close()

    worker = start_server(command="worker", PLATFORM_NODE_NAME="media-1", **shared)
    listener = await websockets.connect(connect + meeting.tokens["gus"])
    speaker = Speaker(signaling, meeting_id, meeting.tokens["hana"], 0.0, (0, 0, 0))
    try:
        await speaker.start()  # hana comes online: the server asks, the worker captions
        final = await final_caption(listener, [])
    finally:
        await speaker.stop()
        await listener.close()
    assert "hello world" in final["data"]["text"]
    started = f"captions of meeting {meeting_id} started"
    assert started in worker.log.read_text()
    assert started not in server.log.read_text()

    # A worker that stops leaves its claim to go stale, for another node's sweep to take over.
    worker.stop()
    import asyncpg

    db = await asyncpg.connect(postgres_url)
    try:
        owner = await db.fetchval(
            "SELECT node FROM caption_rooms WHERE meeting_id = $1", meeting_id
        )
    finally:
        await db.close()
    assert f"captions of meeting {meeting_id} stopped" in worker.log.read_text()
    assert owner == "media-1"
