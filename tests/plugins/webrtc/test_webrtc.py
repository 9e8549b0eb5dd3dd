"""The media bot's peers over REST (50-52): state, statistics, muting a track at the server.

The participants are SDK clients (contrib/platform-client): a mesh call of their own, which the
server's media bot joins when the recording starts.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from platform_client import Forbidden, NotFound, PlatformClient
from platform_client.mesh import MeshCall

from tests.conftest import PatternTrack, ToneTrack


async def person(url: str, name: str) -> PlatformClient:
    client = PlatformClient(url)
    await client.register(name, f"{name}@example.com", "secret-pass")
    await client.login(name, "secret-pass")
    return client


async def test_peers_stats_and_a_mute_that_silences_the_recording(
    start_server: Any, call_env: dict, tmp_path: Path, tone_of: Any, audio_of: Any
) -> None:
    server = start_server(**call_env)
    hana, gus, otto = [await person(server.url, name) for name in ("hana", "gus", "otto")]
    meeting_id = (await hana.meetings.create("muted", settings={"enable_recording": True}))[
        "meeting_id"
    ]
    calls = [
        MeshCall(
            hana.signaling(meeting_id), tracks=[ToneTrack(440.0), PatternTrack((200, 30, 30))]
        ),
        MeshCall(
            gus.signaling(meeting_id), tracks=[ToneTrack(1000.0), PatternTrack((30, 30, 200))]
        ),
    ]
    try:
        for call in calls:
            await call.start()
        recording_id = (await hana.recording.start(meeting_id))["recording_id"]
        began = time.monotonic()
        peers_url = f"/webrtc/room/{meeting_id}/peers"
        for _ in range(100):
            peers = (await gus.request("GET", peers_url))["peers"]
            if len(peers) == 4 and all(p["status"] == "connected" for p in peers):
                break
            await asyncio.sleep(0.1)
        assert sorted((p["media_type"], p["peer_type"]) for p in peers) == [
            ("audio", "subscriber"),
            ("audio", "subscriber"),
            ("video", "subscriber"),
            ("video", "subscriber"),
        ]
        with pytest.raises(Forbidden):
            await otto.request("GET", peers_url)
        await asyncio.sleep(2)
        stats = (await hana.request("GET", f"/webrtc/room/{meeting_id}/stats"))["peers"]
        assert len(stats) == 2
        assert all(s["packets_received"] > 50 and s["bitrate"] > 10_000 for s in stats)

        gus_peer = next(p["peer_id"] for p in peers if p["user_id"] == gus.user["user_id"])
        mute = {"audio_enabled": False}
        with pytest.raises(Forbidden):
            await gus.request("POST", f"/webrtc/peer/{gus_peer}/media", json=mute)
        with pytest.raises(NotFound):
            await hana.request("POST", "/webrtc/peer/nope/media", json=mute)
        muted = await hana.request("POST", f"/webrtc/peer/{gus_peer}/media", json=mute)
        assert muted["muted"] == ["audio"]
        muted_at = time.monotonic() - began
        await asyncio.sleep(3)
        await hana.recording.stop(recording_id)
    finally:
        for call in calls:
            await call.close()
    done = await hana.recording.wait(recording_id)
    assert done["status"] == "completed", done["error"]
    path = tmp_path / "muted.mp4"
    await hana.recording.download(recording_id, to=path)
    audio = audio_of(path)
    # A second just before the mute, and a second and a half from half a second after it.
    before = audio[int((muted_at - 1.2) * 48000) : int((muted_at - 0.2) * 48000)]
    after = audio[int((muted_at + 0.5) * 48000) : int((muted_at + 2.0) * 48000)]
    assert tone_of(before, 48000, 1000.0) > 20  # gus was heard before the mute
    assert tone_of(after, 48000, 1000.0) < tone_of(before, 48000, 1000.0) / 10  # not after
    assert tone_of(after, 48000, 440.0) > 20  # while hana still is
    for client in (hana, gus, otto):
        await client.aclose()
