"""Delivery on a real `platform serve` (hypercorn): frames written straight to the socket, a
receiver that stops reading dropped without holding up the room, compression only on request."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from tests.plugins.signaling.test_nodes import create_meeting, login, next_of


def start_meeting(url: str, host_token: str) -> int:
    mid = create_meeting(url, host_token, "Direct")
    httpx.post(
        f"{url}/api/v1/meetings/{mid}/start", headers={"Authorization": f"Bearer {host_token}"}
    )
    return mid


@pytest.fixture
def serve(start_server):
    def start(**settings: str):
        server = start_server(
            PLATFORM_PLUGINS__ENABLED='["meetings", "signaling"]',
            PLATFORM_RATELIMIT__ENABLED="false",
            PLATFORM_SIGNALING__MAX_MESSAGES_PER_SECOND="100000",
            **settings,
        )
        tokens = {name: login(server.url, name) for name in ("host", "slow", "fine")}
        mid = start_meeting(server.url, tokens["host"])
        base = server.url.replace("http://", "ws://") + f"/ws/signaling?meeting_id={mid}&token="
        return server, tokens, mid, base

    return start


async def test_a_receiver_that_stops_reading_is_dropped_and_the_room_goes_on(serve):
    server, tokens, _, base = serve(
        PLATFORM_SIGNALING__SEND_BUFFER_BYTES="262144", PLATFORM_SIGNALING__MAX_ERRORS="100000"
    )
    async with (
        websockets.connect(base + tokens["host"], max_size=None) as host,
        websockets.connect(base + tokens["fine"], max_size=None) as fine,
        websockets.connect(base + tokens["slow"], max_size=None) as slow,
    ):
        await next_of(host, "room-info")
        await next_of(fine, "room-info")
        slow_session = (await next_of(slow, "room-info"))["data"]["session_id"]
        slow.transport.pause_reading()  # from here on it reads nothing

        # Offers of 60 KB relayed to it until it is dropped (at most 30 MB: far more than the
        # socket buffers and the 256 KB allowed hold). Those still on their way then are
        # errors (no such peer): MAX_ERRORS is raised so that the host is not closed for them.
        sdp = "v=0 " + "x" * 60000
        for n in range(500):
            await host.send(
                json.dumps({"type": "offer", "to": slow_session, "data": {"sdp": sdp, "n": n}})
            )
            if "cannot keep up" in server.log.read_text():
                break
        await host.send(json.dumps({"type": "chat", "data": {"content": "still here"}}))
        chat = await next_of(fine, "chat", wait=20)
        assert chat["data"]["content"] == "still here"

        headers = {"Authorization": f"Bearer {tokens['host']}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as http:
            for _ in range(100):
                session = await http.get(f"/api/v1/sessions/{slow_session}")
                if session.json()["data"]["status"] != "connected":
                    break
                await asyncio.sleep(0.1)
        assert session.json()["data"]["status"] == "reconnecting"  # held for a resume
        assert "cannot keep up" in server.log.read_text()
        with pytest.raises(websockets.ConnectionClosedError):
            slow.transport.resume_reading()
            while True:  # what was in its buffers, then the cut connection
                await asyncio.wait_for(slow.recv(), 10)


async def test_compression_is_declined_unless_switched_on(serve):
    for setting, negotiated in (("false", False), ("true", True)):
        server, tokens, _, base = serve(PLATFORM_SIGNALING__COMPRESSION=setting)
        async with (
            websockets.connect(base + tokens["host"], compression="deflate") as host,
            websockets.connect(base + tokens["fine"], compression="deflate") as fine,
        ):
            extensions = fine.response.headers.get("sec-websocket-extensions") or ""
            assert extensions.startswith("permessage-deflate") is negotiated
            await next_of(host, "room-info")
            await next_of(fine, "room-info")
            await host.send(json.dumps({"type": "chat", "data": {"content": f"hi {setting}"}}))
            chat = await next_of(fine, "chat")
            assert chat["data"]["content"] == f"hi {setting}"
        server.stop()
