"""The signaling WebSocket on one node: admission, relay, chat, media state, protection,
reconnects, REST views."""

from __future__ import annotations

import asyncio
import json

import pytest
from quart.testing import WebsocketResponseError

from kernel.api import text_frame
from plugins.meetings.models import ChatMessage, Participant
from plugins.signaling.hub import Connection
from plugins.signaling.models import SignalingMessage, SignalingSession

from .conftest import FAST, Room, nothing_more, receive


async def refused(room: Room, path: str) -> tuple[int, dict]:
    with pytest.raises(WebsocketResponseError) as caught:
        async with room.client.websocket(path) as ws:
            await ws.receive()
    response = caught.value.response
    return response.status_code, json.loads(await response.get_data())


async def test_admission_is_checked_before_accepting(room):
    mid = await room.create()
    await room.person("gus")
    cases = [
        (f"/ws/signaling?meeting_id={mid}", 401),
        (f"/ws/signaling?meeting_id={mid}&token=garbage", 401),
        (f"/ws/signaling?token={room.tokens['gus']}", 422),
        (f"/ws/signaling?meeting_id=abc&token={room.tokens['gus']}", 422),
        (f"/ws/signaling?meeting_id={10**20}&token={room.tokens['gus']}", 422),
        (f"/ws/signaling?meeting_id=-{mid}&token={room.tokens['gus']}", 422),
        (f"/ws/signaling?meeting_id=9999&token={room.tokens['gus']}", 404),
        (f"/ws/signaling?meeting_id={mid}&token={room.tokens['gus']}&user_id=12345", 403),
    ]
    for path, status in cases:
        got, body = await refused(room, path)
        assert got == status, (path, body)
        assert body["message"] and body["request_id"]
    assert await SignalingSession.all().count() == 0


async def test_password_and_waiting_room_rules_apply(room):
    locked = await room.create("hana", enable_waiting_room=True)
    await room.person("gus")
    status, body = await refused(
        room, f"/ws/signaling?meeting_id={locked}&token={room.tokens['gus']}"
    )
    assert status == 403 and "waiting room" in body["message"]
    assert (
        await Participant.get(meeting_id=locked, user_id=room.users["gus"].id)
    ).status == "waiting"


async def test_link_join_and_token_in_subprotocol_or_header(room):
    mid = await room.create()
    await room.person("gus")
    # Not joined over REST: the socket joins through the meeting's rules (no password here).
    async with room.client.websocket(
        f"/ws/signaling?meeting_id={mid}",
        scope_base={"subprotocols": ["bearer", room.tokens["gus"]]},
    ) as ws:
        info = await receive(ws, "room-info")
        assert info["data"]["participants"][0]["username"] == "gus"
    assert (
        await Participant.get(meeting_id=mid, user_id=room.users["gus"].id)
    ).role == "participant"
    async with room.client.websocket(
        f"/ws/signaling?meeting_id={mid}", headers=room.headers("hana")
    ) as ws:
        assert (await receive(ws, "room-info"))["data"]["session_id"]


async def test_join_relay_and_server_filled_sender(room):
    await room.create()
    await room.person("gus")
    async with room.socket("hana") as hana:
        hana_info = await receive(hana, "room-info")
        async with room.socket("gus") as gus:
            gus_info = await receive(gus, "room-info")
            assert {p["username"] for p in gus_info["data"]["participants"]} == {"hana", "gus"}
            joined = await receive(hana, "user-joined")
            assert joined["data"]["username"] == "gus"
            gus_session = gus_info["data"]["session_id"]
            # Relay by session id; the client's own "from" is ignored.
            await hana.send(
                json.dumps(
                    {"type": "offer", "to": gus_session, "from": 999, "data": {"sdp": "v=0 offer"}}
                )
            )
            offer = await receive(gus, "offer")
            assert offer["from"] == room.users["hana"].id
            assert offer["from_session"] == hana_info["data"]["session_id"]
            assert offer["data"] == {"sdp": "v=0 offer"} and offer["id"] and offer["timestamp"]
            # Relay by user id.
            await gus.send(
                json.dumps(
                    {"type": "answer", "to": room.users["hana"].id, "data": {"sdp": "v=0 answer"}}
                )
            )
            assert (await receive(hana, "answer"))["data"] == {"sdp": "v=0 answer"}
            await gus.send(
                json.dumps(
                    {"type": "ice-candidate", "to": "nobody-here", "data": {"candidate": "x"}}
                )
            )
            error = await receive(gus, "error")
            assert error["data"]["code"] == 2105
        left = await receive(hana, "user-left")
        assert left["data"]["user_id"] == room.users["gus"].id


async def test_chat_is_stored_and_rest_chat_arrives_live(room):
    mid = await room.create()
    await room.person("gus")
    await room.client.post(f"/api/v1/meetings/{mid}/join", headers=room.headers("gus"))
    async with room.socket("hana") as hana, room.socket("gus") as gus:
        await receive(hana, "room-info")
        await receive(gus, "room-info")
        await hana.send(json.dumps({"type": "chat", "data": {"content": "over the socket"}}))
        for ws in (hana, gus):
            chat = await receive(ws, "chat")
            assert chat["data"]["content"] == "over the socket"
            assert chat["from"] == room.users["hana"].id
        await room.client.post(
            f"/api/v1/meetings/{mid}/messages",
            headers=room.headers("gus"),
            json={"content": "over REST"},
        )
        assert (await receive(hana, "chat"))["data"]["content"] == "over REST"
        await hana.send(json.dumps({"type": "chat", "data": {"content": ""}}))
        assert (await receive(hana, "error"))["data"]["code"] == 422
        # Half a surrogate pair cannot be stored: refused alone, the chat after it goes through.
        await hana.send('{"type": "chat", "data": {"content": "x\\ud800"}}')
        await hana.send(json.dumps({"type": "chat", "data": {"content": "after"}}))
        assert (await receive(hana, "error"))["data"]["code"] == 2101
        assert (await receive(gus, "chat"))["data"]["content"] == "over REST"
        assert (await receive(gus, "chat"))["data"]["content"] == "after"
    assert await ChatMessage.filter(meeting_id=mid).count() == 3
    assert await SignalingMessage.filter(meeting_id=mid, type="chat").count() == 3


async def test_plugins_send_server_messages_to_the_whole_room(room):
    from plugins.signaling.service import send_to_room

    mid = await room.create()
    await room.person("gus")
    await room.client.post(f"/api/v1/meetings/{mid}/join", headers=room.headers("gus"))
    async with room.socket("hana") as hana, room.socket("gus") as gus:
        await receive(hana, "room-info")
        await receive(gus, "room-info")
        async with room.client.app.app_context():
            assert await send_to_room(mid, "caption", {"text": "hi", "final": True})
        for ws in (hana, gus):
            message = await receive(ws, "caption")
            assert message["from"] is None and message["meeting_id"] == mid
            assert message["data"] == {"text": "hi", "final": True} and message["id"]


async def test_chat_rules_of_the_meeting_apply(room):
    await room.create(enable_chat=False)
    async with room.socket("hana") as hana:
        await receive(hana, "room-info")
        await hana.send(json.dumps({"type": "chat", "data": {"content": "hi"}}))
        error = await receive(hana, "error")
        assert error["data"]["code"] == 403 and "disabled" in error["data"]["message"]


async def test_media_state_is_stored_and_broadcast(room):
    mid = await room.create()
    await room.person("gus")
    async with room.socket("hana") as hana, room.socket("gus") as gus:
        await receive(hana, "room-info")
        await receive(gus, "room-info")
        await gus.send(
            json.dumps(
                {"type": "media-state", "data": {"audio_enabled": False, "video_enabled": True}}
            )
        )
        state = await receive(hana, "media-state")
        assert state["data"]["audio_enabled"] is False
        await nothing_more(gus, "media-state", 0.2)  # not echoed to the sender
        await gus.send(json.dumps({"type": "media-state", "data": {"audio_enabled": "off"}}))
        assert (await receive(gus, "error"))["data"]["code"] == 2101
    participant = await Participant.get(meeting_id=mid, user_id=room.users["gus"].id)
    assert participant.audio_enabled is False and participant.video_enabled is True


async def test_bad_input_gets_errors_then_a_close(make_client):
    async with make_client(
        plugins={"enabled": ["meetings", "signaling"]},
        signaling={"max_errors": 5, "max_message_bytes": 50000},
    ) as client:
        room = Room(client)
        await room.create()
        async with room.socket("hana") as ws:
            await receive(ws, "room-info")
            expected = [
                ("[" * 20000 + "]" * 20000, 2101),
                ("not json", 2101),
                (json.dumps([1, 2]), 2101),
                (json.dumps({"type": "teleport"}), 2103),
            ]
            for frame, code in expected:
                await ws.send(frame)
                assert (await receive(ws, "error"))["data"]["code"] == code
            await ws.send(json.dumps({"type": "ping", "data": "x" * 60000}))
            assert (await receive(ws, "error"))["data"]["code"] == 2102
            # The server still answers, until the limit of errors closes the socket.
            with pytest.raises(Exception) as closed:
                for _ in range(5):
                    await ws.send("still not json")
                    await receive(ws, "pong", wait=1)
            assert "1008" in repr(closed.value)


async def test_floods_are_refused(make_client):
    async with make_client(
        plugins={"enabled": ["meetings", "signaling"]}, signaling={"max_messages_per_second": 5}
    ) as client:
        room = Room(client)
        await room.create()
        async with room.socket("hana") as ws:
            await receive(ws, "room-info")
            for _ in range(8):
                await ws.send(json.dumps({"type": "ping"}))
            kinds = [(await receive(ws))["type"] for _ in range(8)]
    assert kinds.count("pong") == 5 and kinds.count("error") == 3


async def test_removal_and_meeting_end_close_live_sessions(room):
    mid = await room.create()
    await room.person("gus")
    await room.person("ivy")
    async with room.socket("hana") as hana, room.socket("gus") as gus, room.socket("ivy") as ivy:
        for ws in (hana, gus, ivy):
            await receive(ws, "room-info")
        await room.client.delete(
            f"/api/v1/meetings/{mid}/participants/{room.users['gus'].id}",
            headers=room.headers("hana"),
        )
        told = await receive(gus, "error")
        assert told["data"]["code"] == 4403
        left = await receive(hana, "user-left")
        assert left["data"]["user_id"] == room.users["gus"].id
        await room.client.post(f"/api/v1/meetings/{mid}/end", headers=room.headers("hana"))
        for ws in (hana, ivy):
            assert (await receive(ws, "error"))["data"]["code"] == 4410
    assert await SignalingSession.filter(meeting_id=mid, status="connected").count() == 0


async def test_reconnect_within_grace_resumes_without_flapping(room):
    mid = await room.create()
    await room.person("gus")
    async with room.socket("hana") as hana:
        await receive(hana, "room-info")
        async with room.socket("gus") as gus:
            session = (await receive(gus, "room-info"))["data"]["session_id"]
            await receive(hana, "user-joined")
            await gus.disconnect()
        await asyncio.sleep(0.05)
        async with room.socket("gus", session_id=session) as again:
            info = await receive(again, "room-info")
            assert info["data"]["resumed"] is True and info["data"]["session_id"] == session
            await nothing_more(hana, "user-left", 0.5)  # longer than the 0.3 s grace
        # Gone for good this time: after the grace the others hear it and the seat is freed.
        left = await receive(hana, "user-left", wait=3)
        assert left["data"]["session_id"] == session
    participant = await Participant.get(meeting_id=mid, user_id=room.users["gus"].id)
    assert participant.status == "offline"


async def test_someone_elses_session_cannot_be_resumed(room):
    await room.create()
    await room.person("gus")
    async with room.socket("hana") as hana:
        session = (await receive(hana, "room-info"))["data"]["session_id"]
        async with room.socket("gus", session_id=session) as gus:
            info = await receive(gus, "room-info")
            assert info["data"]["resumed"] is False and info["data"]["session_id"] != session


async def test_silent_connections_are_dropped_by_the_heartbeat(make_client):
    async with make_client(
        plugins={"enabled": ["meetings", "signaling"]},
        signaling={"heartbeat_interval": 0.2, "reconnect_grace": 0.1},
    ) as c:
        room = Room(c)
        mid = await room.create()
        await room.person("gus")
        async with room.socket("hana") as hana:
            await receive(hana, "room-info")
            async with room.socket("gus") as gus:
                await receive(gus, "room-info")
                # hana answers pings; gus says nothing and must be dropped.
                for _ in range(12):
                    message = json.loads(await asyncio.wait_for(hana.receive(), 2))
                    if message["type"] == "ping":
                        await hana.send(json.dumps({"type": "pong"}))
                    if message["type"] == "user-left":
                        break
                assert message["type"] == "user-left"
                assert message["data"]["user_id"] == room.users["gus"].id
        gone = SignalingSession.filter(meeting_id=mid, user_id=room.users["gus"].id)
        assert await gone.filter(status="disconnected").count() == 1


class StuckSocket:
    """A peer that never reads: its sends wait forever (a network edge, not our code)."""

    def __init__(self) -> None:
        self.closed: list[int] = []

    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str = "") -> None:
        self.closed.append(code)


async def test_a_slow_receiver_is_dropped_without_stalling_the_room(room):
    mid = await room.create()
    user = room.users["hana"]
    hub = room.client.app.extensions["signaling"].hub
    stuck = Connection(StuckSocket(), "stuck", "c1", user, mid, queue_size=3)
    healthy_socket = StuckSocket()
    healthy_socket.send_text = lambda text: asyncio.sleep(0)
    healthy = Connection(healthy_socket, "fine", "c2", user, mid, queue_size=3)
    await hub.add(stuck)
    await hub.add(healthy)
    for i in range(10):
        hub._deliver(mid, {"text": f"message {i}"})
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert stuck.close_code == 1013 and stuck.ws.closed == [1013]
    assert healthy.close_code is None
    await hub.remove(stuck)
    await hub.remove(healthy)
    await stuck.stop()
    await healthy.stop()


class FrameSocket:
    """A socket taking ready-made frames (as hypercorn's does through accept_websocket)."""

    direct = True

    def __init__(self, unsent: int = 0) -> None:
        self.writes: list[bytes] = []
        self.unsent = unsent
        self.aborted = False

    def write(self, frames: bytes) -> int:
        self.writes.append(frames)
        return self.unsent

    def abort(self) -> None:
        self.aborted = True

    async def close(self, code: int, reason: str = "") -> None:
        pass


async def test_what_one_loop_turn_offers_goes_out_in_one_write(room):
    mid = await room.create()
    user = room.users["hana"]
    hub = room.client.app.extensions["signaling"].hub
    fast, stuck = FrameSocket(), FrameSocket(unsent=2_000_000)
    conns = [
        Connection(ws, name, name, user, mid, 3, 1 << 20)
        for ws, name in ((fast, "f"), (stuck, "s"))
    ]
    for conn in conns:
        await hub.add(conn)
    for i in range(5):  # more than the queue size (3) of the task-per-socket path
        hub._deliver(mid, {"text": f"message {i}"})
    assert fast.writes == []  # nothing yet: the writes wait for the end of this turn
    await asyncio.sleep(0)
    expected = b"".join(text_frame(f"message {i}") for i in range(5))
    assert fast.writes == [expected] and not fast.aborted and conns[0].close_code is None
    # 2 MB unsent after its write: dropped at once, without a close frame queued behind them.
    assert stuck.aborted and conns[1].close_code == 1013
    hub._deliver(mid, {"text": "later"})
    await asyncio.sleep(0)
    assert len(stuck.writes) == 1 and fast.writes[-1] == text_frame("later")
    for conn in conns:
        await hub.remove(conn)
        await conn.stop()


async def test_rest_views_of_sessions_history_and_stats(room):
    mid = await room.create()
    await room.person("gus")
    await room.person("oz")
    await room.person("ada", admin=True)
    async with room.socket("hana") as hana, room.socket("gus") as gus:
        session = (await receive(hana, "room-info"))["data"]["session_id"]
        await receive(gus, "room-info")
        await gus.send(json.dumps({"type": "chat", "data": {"content": "hello"}}))
        await receive(hana, "chat")
        response = await room.client.get(f"/api/v1/sessions/{session}", headers=room.headers("gus"))
        body = await response.get_json()
        assert response.status_code == 200 and body["data"]["user_id"] == room.users["hana"].id
        assert (
            await room.client.get(f"/api/v1/sessions/{session}", headers=room.headers("oz"))
        ).status_code == 403
        assert (
            await room.client.get("/api/v1/sessions/nope", headers=room.headers("gus"))
        ).status_code == 404
        response = await room.client.get(
            f"/api/v1/sessions/room/{mid}", headers=room.headers("gus")
        )
        assert (await response.get_json())["data"]["total"] == 2
        assert (
            await room.client.get(f"/api/v1/sessions/room/{mid}", headers=room.headers("oz"))
        ).status_code == 403
        response = await room.client.get(
            f"/api/v1/messages/history/{mid}", headers=room.headers("hana")
        )
        kinds = [m["type"] for m in (await response.get_json())["data"]["messages"]]
        assert kinds == ["user-joined", "user-joined", "chat"]
        assert (
            await room.client.get(f"/api/v1/messages/history/{mid}", headers=room.headers("oz"))
        ).status_code == 403
        assert (
            await room.client.get("/api/v1/stats/overview", headers=room.headers("gus"))
        ).status_code == 403
        response = await room.client.get("/api/v1/stats/overview", headers=room.headers("ada"))
        overview = (await response.get_json())["data"]
        assert (overview["connections"], overview["rooms"], overview["sessions"]) == (2, 1, 2)
        assert overview["node"]["messages_delivered"] > 0
        response = await room.client.get("/api/v1/stats/rooms", headers=room.headers("ada"))
        rooms = (await response.get_json())["data"]["rooms"]
        assert rooms[0]["meeting_id"] == mid and rooms[0]["users"] == 2
        assert rooms[0]["messages_kept"] == 3


async def test_one_user_on_several_devices(room):
    await room.create()
    await room.person("gus")
    async with room.socket("gus") as phone, room.socket("gus") as laptop:
        phone_session = (await receive(phone, "room-info"))["data"]["session_id"]
        laptop_session = (await receive(laptop, "room-info"))["data"]["session_id"]
        assert phone_session != laptop_session
        async with room.socket("hana") as hana:
            info = await receive(hana, "room-info")
            sessions = {p["session_id"] for p in info["data"]["participants"]}
            assert {phone_session, laptop_session} <= sessions
            # Addressed to the user: every device gets it; to a session: only that one.
            await hana.send(
                json.dumps(
                    {"type": "offer", "to": room.users["gus"].id, "data": {"sdp": "to all devices"}}
                )
            )
            for device in (phone, laptop):
                assert (await receive(device, "offer"))["data"]["sdp"] == "to all devices"
            await hana.send(
                json.dumps({"type": "offer", "to": laptop_session, "data": {"sdp": "laptop only"}})
            )
            assert (await receive(laptop, "offer"))["data"]["sdp"] == "laptop only"
            await nothing_more(phone, "offer", 0.3)
        # One device leaving keeps the user in the meeting.
        await phone.send(json.dumps({"type": "leave"}))
        await asyncio.sleep(0.2)
        participant = await Participant.get(
            meeting_id=room.meeting_id, user_id=room.users["gus"].id
        )
        assert participant.status == "online"


async def test_chat_batches_keep_every_message_once_with_rest_chat_between(
    make_client, db_overrides
):
    # Socket chats are stored in batches with ids taken for the whole batch: REST chat (one
    # insert at a time) in between must neither collide with them nor reorder a sender's chats.
    async with make_client(
        plugins={"enabled": ["meetings", "signaling"]},
        ratelimit={"enabled": False},
        signaling=FAST,
        **db_overrides,
    ) as client:
        room = Room(client)
        mid = await room.create()
        await room.person("gus")
        await client.post(f"/api/v1/meetings/{mid}/join", headers=room.headers("gus"))
        async with room.socket("hana") as hana, room.socket("gus") as gus:
            await receive(hana, "room-info")
            await receive(gus, "room-info")
            for i in range(15):
                await hana.send(json.dumps({"type": "chat", "data": {"content": f"h{i}"}}))
            response = await client.post(
                f"/api/v1/meetings/{mid}/messages",
                headers=room.headers("gus"),
                json={"content": "rest"},
            )
            assert response.status_code == 201
            for i in range(15):
                await gus.send(json.dumps({"type": "chat", "data": {"content": f"g{i}"}}))
            chats = [(await receive(hana, "chat", wait=5))["data"] for _ in range(31)]
        stored = await ChatMessage.filter(meeting_id=mid).values_list("id", "content")
        history = await SignalingMessage.filter(meeting_id=mid, type="chat").order_by("id")
        kept = len(history)
    assert len({c["message_id"] for c in chats}) == 31
    # The history rows hold what was broadcast, JSON and all (PostgreSQL: one unnest insert).
    by_id = {c["message_id"]: c for c in chats}
    for row in history:
        assert row.data == {k: by_id[row.data["message_id"]][k] for k in row.data}
        assert row.from_user in (room.users["hana"].id, room.users["gus"].id)
        assert row.created_at is not None
    contents = [c["content"] for c in chats]
    assert [c for c in contents if c.startswith("h")] == [f"h{i}" for i in range(15)]
    assert [c for c in contents if c.startswith("g")] == [f"g{i}" for i in range(15)]
    assert dict(stored) == {c["message_id"]: c["content"] for c in chats}
    assert kept == 31


async def test_a_chat_batch_that_collides_is_stored_one_by_one(room, monkeypatch):
    # Another process took the ids this batch chose (SQLite with several workers): the batch
    # rolls back and its chats are stored one at a time, none lost, none twice.
    from plugins.meetings import service as meetings

    mid = await room.create()
    async with room.socket("hana") as hana:
        await receive(hana, "room-info")
        await hana.send(json.dumps({"type": "chat", "data": {"content": "first"}}))
        first = (await receive(hana, "chat"))["data"]["message_id"]

        async def taken_ids(conn, count):
            return [first] * count  # already used: the insert fails

        monkeypatch.setattr(meetings, "_new_message_ids", taken_ids)
        for text in ("second", "third"):
            await hana.send(json.dumps({"type": "chat", "data": {"content": text}}))
        later = [(await receive(hana, "chat"))["data"] for _ in range(2)]
        assert [c["content"] for c in later] == ["second", "third"]
        stored = (
            await ChatMessage.filter(meeting_id=mid)
            .order_by("id")
            .values_list("content", flat=True)
        )
        assert stored == ["first", "second", "third"]
        assert await SignalingMessage.filter(meeting_id=mid, type="chat").count() == 3


async def test_a_relay_to_a_session_here_stays_off_redis(redis_url):
    # Offers, answers and ICE candidates between two sessions on one node: the other nodes
    # would only decode and drop them. A session elsewhere (or a user) still goes out.
    import pluggy

    from kernel import hookspecs
    from kernel.events import EventBus
    from plugins.signaling.hub import Hub

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    bus = EventBus(pm.hook, "node-a", redis_url)
    await bus.start()
    hub = Hub(bus, "node-a")
    user = type("U", (), {"id": 1, "username": "hana"})()
    here = Connection(FrameSocket(), "here", "c1", user, 5, 3)
    await hub.add(here)
    heard: list = []
    subscribed = asyncio.Event()

    async def listen():
        async with bus.subscribe("signaling:room:5") as messages:
            subscribed.set()
            async for payload in messages:
                heard.append(payload["to_session"] or payload["to_user"])
                return

    listener = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(subscribed.wait(), 5)
        await hub.publish(5, {"type": "offer", "n": 1}, to_session="here")
        await hub.publish(5, {"type": "offer", "n": 2}, to_session="elsewhere")
        await asyncio.wait_for(listener, 5)
        await asyncio.sleep(0)
    finally:
        await hub.remove(here)
        await hub.stop()
        await bus.stop()
    assert heard == ["elsewhere"]
    assert here.ws.writes == [text_frame('{"type":"offer","n":1}')]
