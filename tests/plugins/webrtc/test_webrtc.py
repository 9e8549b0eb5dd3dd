"""The media bot's peers over REST (50-52): state, statistics, muting a track at the server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any


async def test_peers_stats_and_a_mute_that_silences_the_recording(
    start_server: Any, call_env: dict, call_on: Any, tmp_path: Path, tone_of: Any, audio_of: Any
) -> None:
    server = start_server(**call_env)
    meeting = call_on(server.url)
    host = await meeting.person("hana")
    guest = await meeting.person("gus")
    outsider = await meeting.person("otto")
    meeting_id = await meeting.create("hana")
    clients = [
        meeting.client("hana", 440.0, (200, 30, 30)),
        meeting.client("gus", 1000.0, (30, 30, 200)),
    ]
    try:
        for client in clients:
            await client.start()
        started = await meeting.http.post(
            "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id}
        )
        recording_id = started.json()["data"]["recording_id"]
        began = time.monotonic()
        peers_url = f"/api/v1/webrtc/room/{meeting_id}/peers"
        for _ in range(100):
            peers = (await meeting.http.get(peers_url, headers=guest)).json()["data"]["peers"]
            if len(peers) == 4 and all(p["status"] == "connected" for p in peers):
                break
            await asyncio.sleep(0.1)
        assert sorted((p["media_type"], p["peer_type"]) for p in peers) == [
            ("audio", "subscriber"),
            ("audio", "subscriber"),
            ("video", "subscriber"),
            ("video", "subscriber"),
        ]
        assert (await meeting.http.get(peers_url, headers=outsider)).status_code == 403
        await asyncio.sleep(2)
        stats = (
            await meeting.http.get(f"/api/v1/webrtc/room/{meeting_id}/stats", headers=host)
        ).json()["data"]["peers"]
        assert len(stats) == 2
        assert all(s["packets_received"] > 50 and s["bitrate"] > 10_000 for s in stats)

        users = {p["user_id"] for p in peers}
        gus_peer = next(p["peer_id"] for p in peers if p["user_id"] == max(users))
        mute_url = f"/api/v1/webrtc/peer/{gus_peer}/media"
        refused = await meeting.http.post(mute_url, headers=guest, json={"audio_enabled": False})
        assert refused.status_code == 403
        missing = await meeting.http.post(
            "/api/v1/webrtc/peer/nope/media", headers=host, json={"audio_enabled": False}
        )
        assert missing.status_code == 404
        muted = await meeting.http.post(mute_url, headers=host, json={"audio_enabled": False})
        assert muted.json()["data"]["muted"] == ["audio"]
        muted_at = time.monotonic() - began
        await asyncio.sleep(3)
        await meeting.http.post(
            "/api/v1/recording/stop", headers=host, json={"recording_id": recording_id}
        )
    finally:
        for client in clients:
            await client.stop()
    done = await meeting.wait_recording("hana", recording_id, "completed", "failed")
    assert done["status"] == "completed", done["error"]
    download = await meeting.http.get(f"/api/v1/recording/{recording_id}/download", headers=host)
    path = tmp_path / "muted.mp4"
    path.write_bytes(download.content)
    audio = audio_of(path)
    # A second just before the mute, and a second and a half from half a second after it.
    before = audio[int((muted_at - 1.2) * 48000) : int((muted_at - 0.2) * 48000)]
    after = audio[int((muted_at + 0.5) * 48000) : int((muted_at + 2.0) * 48000)]
    assert tone_of(before, 48000, 1000.0) > 20  # gus was heard before the mute
    assert tone_of(after, 48000, 1000.0) < tone_of(before, 48000, 1000.0) / 10  # not after
    assert tone_of(after, 48000, 440.0) > 20  # while hana still is
    await meeting.http.aclose()
