"""The signaling client against a real server: resume after a cut connection, clean leave."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from platform_client import PlatformClient
from platform_client.signaling import SignalingClient, SignalingClosed

from tests.contrib.platform_client.conftest import REST_PLUGINS

GRACE = "3"


async def test_a_cut_connection_resumes_the_same_session_without_the_room_noticing(
    start_server: Any, connect: Any, proxy_to: Any
) -> None:
    server = start_server(
        PLATFORM_PLUGINS__ENABLED=REST_PLUGINS,
        PLATFORM_RATELIMIT__ENABLED="false",
        PLATFORM_SIGNALING__RECONNECT_GRACE=GRACE,
        PLATFORM_SIGNALING__HEARTBEAT_INTERVAL="1",
    )
    proxy = await proxy_to(server)
    ada = await connect(server, "ada")
    bob = await connect(server, "bob")
    meeting_id = (await ada.meetings.create("resilient"))["meeting_id"]
    await bob.meetings.join(meeting_id)

    # bob watches the room directly; ada's signaling goes through the proxy.
    async with bob.signaling(meeting_id) as bob_room:
        ada_room = SignalingClient(proxy.url, meeting_id, ada.access_token)
        joined = await ada_room.connect()
        session_id = joined["session_id"]
        assert joined["resumed"] is False
        assert bob_room.session_id in {p["session_id"] for p in joined["participants"]}
        arrived = await bob_room.receive("user-joined", within=10)
        assert arrived["data"]["session_id"] == session_id

        # Heartbeats are answered: with a 1 s interval the server drops a silent socket
        # after 2 s, so staying past that proves the pongs.
        await asyncio.sleep(3)
        assert ada_room.closed is None and ada_room.reconnects == 0

        assert proxy.cut() == 1  # ada's socket: reset, no close frame, no leave
        again = await ada_room.receive("room-info", within=20)
        assert again["data"]["session_id"] == session_id
        assert again["data"]["resumed"] is True
        assert ada_room.reconnects == 1

        # Past the grace a lost session would have ended with user-left; this one did not.
        await asyncio.sleep(float(GRACE) + 1)
        await ada_room.chat("still here")
        seen = []
        while True:
            message = await bob_room.receive(within=10)
            seen.append((message["type"], message["data"].get("session_id")))
            if message["type"] == "chat":
                break
        assert ("user-left", session_id) not in seen
        assert ("user-joined", session_id) not in seen
        assert message["data"]["content"] == "still here" and message["from"] == ada.user["user_id"]
        session = await ada.request("GET", f"/sessions/{session_id}")
        assert session["status"] == "connected"

        # A relayed message finds ada's resumed session by its id.
        await bob_room.send("offer", {"type": "offer", "sdp": "v=0"}, to=session_id)
        relayed = await ada_room.receive("offer", within=10)
        assert relayed["from_session"] == bob_room.session_id

        # A clean close is a leave: the room hears it at once, and the session is over.
        await ada_room.close()
        left = await bob_room.receive("user-left", within=10)
        assert left["data"]["session_id"] == session_id and left["data"]["reason"] == "left"
        assert isinstance(ada_room.closed, SignalingClosed)
    session = await ada.request("GET", f"/sessions/{session_id}")
    assert session["status"] == "disconnected"


async def test_the_end_of_the_meeting_ends_the_connection_without_reconnecting(
    start_server: Any, connect: Any
) -> None:
    server = start_server(
        PLATFORM_PLUGINS__ENABLED=REST_PLUGINS, PLATFORM_RATELIMIT__ENABLED="false"
    )
    ada = await connect(server, "ada")
    meeting_id = (await ada.meetings.create("short"))["meeting_id"]
    room = ada.signaling(meeting_id)
    await room.connect()
    await room.media_state(audio_enabled=False)
    await ada.meetings.start(meeting_id)
    await ada.meetings.end(meeting_id)
    messages = [message async for message in room]  # ends when the server closes for good
    assert messages[-1]["type"] == "error" and messages[-1]["data"]["code"] == 4410
    assert room.closed is not None and room.closed.code == 4410
    assert room.reconnects == 0
    with pytest.raises(SignalingClosed):
        await room.chat("anyone?")

    # A meeting that is over refuses new connections: connect() says so.
    with pytest.raises(SignalingClosed) as refused:
        await ada.signaling(meeting_id).connect()
    assert refused.value.code is not None and 400 <= refused.value.code < 500

    # And a stranger cannot open someone else's room.
    async with PlatformClient(server.url) as stranger:
        await stranger.register("eve", "eve@example.com", "secret-pass")
        await stranger.login("eve", "secret-pass")
        other = (await ada.meetings.create("private", password="door"))["meeting_id"]
        with pytest.raises(SignalingClosed) as forbidden:
            await stranger.signaling(other).connect()
        assert forbidden.value.code == 403
