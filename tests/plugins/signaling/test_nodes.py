"""A room spanning two real `platform serve` nodes that share PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import websockets

PLUGINS = '["meetings", "signaling"]'


@pytest.fixture
def nodes(postgres_url, redis_url, start_server):
    # start_server last: its servers stop before the database is dropped.
    shared = {
        "PLATFORM_DATABASE_URL": postgres_url,
        "PLATFORM_REDIS_URL": redis_url,
        "PLATFORM_PLUGINS__ENABLED": PLUGINS,
        "PLATFORM_RATELIMIT__ENABLED": "false",
        "PLATFORM_SIGNALING__HEARTBEAT_INTERVAL": "0.5",
        "PLATFORM_SIGNALING__RECONNECT_GRACE": "0.5",
    }
    first = start_server(PLATFORM_NODE_NAME="node-a", **shared)
    second = start_server(PLATFORM_NODE_NAME="node-b", **shared)
    return first, second


def login(url: str, name: str) -> str:
    httpx.post(
        f"{url}/api/v1/auth/register",
        json={"username": name, "email": f"{name}@example.com", "password": "password-1"},
    )
    response = httpx.post(
        f"{url}/api/v1/auth/login", json={"username": name, "password": "password-1"}
    )
    return response.json()["data"]["token"]


def create_meeting(url: str, host_token: str, title: str) -> int:
    """A meeting an hour from now, for 5, created by the holder of `host_token`."""
    start = datetime.now(UTC) + timedelta(hours=1)
    response = httpx.post(
        f"{url}/api/v1/meetings",
        headers={"Authorization": f"Bearer {host_token}"},
        json={
            "title": title,
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(hours=1)).isoformat(),
            "max_participants": 5,
        },
    )
    return response.json()["data"]["meeting_id"]


async def next_of(ws, kind: str, wait: float = 5) -> dict:
    """The next message of `kind`, answering pings on the way (a live client does)."""
    async with asyncio.timeout(wait):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            if message["type"] == kind:
                return message


async def test_a_room_spans_two_nodes(nodes):
    node_a, node_b = nodes
    alice, bob = login(node_a.url, "alice"), login(node_b.url, "bob")
    mid = await asyncio.to_thread(create_meeting, node_a.url, alice, "Across")
    ws_a = node_a.url.replace("http://", "ws://") + f"/ws/signaling?meeting_id={mid}"
    ws_b = node_b.url.replace("http://", "ws://") + f"/ws/signaling?meeting_id={mid}"

    async with websockets.connect(ws_a, subprotocols=["bearer", alice]) as a:
        alice_info = await next_of(a, "room-info")
        async with websockets.connect(f"{ws_b}&token={bob}") as b:
            bob_info = await next_of(b, "room-info")
            # Sessions are visible from any node.
            assert {p["username"] for p in bob_info["data"]["participants"]} == {"alice", "bob"}
            joined = await next_of(a, "user-joined")
            assert joined["data"]["username"] == "bob"

            await a.send(
                json.dumps(
                    {
                        "type": "offer",
                        "to": bob_info["data"]["session_id"],
                        "data": {"sdp": "offer from node a"},
                    }
                )
            )
            offer = await next_of(b, "offer")
            assert offer["data"]["sdp"] == "offer from node a"
            assert offer["from_session"] == alice_info["data"]["session_id"]
            await b.send(
                json.dumps(
                    {
                        "type": "answer",
                        "to": alice_info["data"]["session_id"],
                        "data": {"sdp": "answer from node b"},
                    }
                )
            )
            assert (await next_of(a, "answer"))["data"]["sdp"] == "answer from node b"
            await b.send(
                json.dumps(
                    {
                        "type": "ice-candidate",
                        "to": alice_info["data"]["session_id"],
                        "data": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host"},
                    }
                )
            )
            assert (await next_of(a, "ice-candidate"))["data"]["candidate"].startswith("candidate")

            await b.send(json.dumps({"type": "chat", "data": {"content": "hello from b"}}))
            for ws in (a, b):
                chat = await next_of(ws, "chat")
                assert chat["data"]["content"] == "hello from b"

            listing = await asyncio.to_thread(
                httpx.get,
                f"{node_a.url}/api/v1/sessions/room/{mid}",
                headers={"Authorization": f"Bearer {alice}"},
            )
            sessions = listing.json()["data"]["sessions"]
            assert sorted(s["node"] for s in sessions) == ["node-a", "node-b"]

            # Node B dies without a word: A hears bob left within the heartbeat window.
            node_b.proc.send_signal(signal.SIGKILL)
            left = await next_of(a, "user-left", wait=10)
            assert left["data"]["session_id"] == bob_info["data"]["session_id"]
            assert left["data"]["reason"] == "node unreachable"
