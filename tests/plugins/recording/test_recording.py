"""Recording a real call end to end: two aiortc participants, the media bot, the composed file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import av


def video_of(path: Path) -> tuple[float, list[tuple[int, int]]]:
    with av.open(str(path)) as container:
        duration = float(container.duration or 0) / av.time_base
        sizes = {(f.width, f.height) for f in container.decode(video=0)}
    return duration, sorted(sizes)


async def test_a_two_party_call_is_recorded_with_both_voices_and_videos(
    start_server: Any, call_env: dict, call_on: Any, tmp_path: Path, tone_of: Any, audio_of: Any
) -> None:
    server = start_server(**call_env)
    meeting = call_on(server.url)
    host = await meeting.person("hana")
    guest = await meeting.person("gus")
    meeting_id = await meeting.create("hana")
    clients = [
        meeting.client("hana", 440.0, (200, 30, 30)),
        meeting.client("gus", 1000.0, (30, 30, 200)),
    ]
    try:
        await clients[0].start()
        started = await meeting.http.post(
            "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id}
        )
        assert started.status_code == 201, started.text
        recording = started.json()["data"]
        assert recording["status"] == "recording"
        began = time.monotonic()
        await asyncio.sleep(2)
        await clients[1].start()  # gus joins a running recording
        gus_joined = time.monotonic() - began
        await asyncio.sleep(4)
        peers = await meeting.http.get(f"/api/v1/webrtc/room/{meeting_id}/peers", headers=guest)
        connected = {
            p["peer_id"] for p in peers.json()["data"]["peers"] if p["status"] == "connected"
        }
        assert len(connected) == 2, peers.json()
        stopped = await meeting.http.post(
            "/api/v1/recording/stop", headers=host, json={"recording_id": recording["recording_id"]}
        )
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["data"]["status"] in ("processing", "completed")
    finally:
        for client in clients:
            await client.stop()

    done = await meeting.wait_recording("hana", recording["recording_id"], "completed", "failed")
    assert done["status"] == "completed", done["error"]
    download = await meeting.http.get(
        f"/api/v1/recording/{recording['recording_id']}/download", headers=guest
    )
    assert download.status_code == 200
    path = tmp_path / "recording.mp4"
    path.write_bytes(download.content)
    duration, sizes = video_of(path)
    audio = audio_of(path)
    assert abs(duration - done["duration"]) < 0.5
    assert 5.4 <= duration <= 9, duration
    assert sizes == [(1280, 720)]
    assert tone_of(audio, 48000, 440.0) > 20
    assert tone_of(audio, 48000, 1000.0) > 20
    # gus is in the recording from when he joined, not before.
    early = audio[int(0.5 * 48000) : int((gus_joined - 0.2) * 48000)]
    late = audio[int((gus_joined + 2.5) * 48000) : int((gus_joined + 3.8) * 48000)]
    assert tone_of(early, 48000, 1000.0) < tone_of(late, 48000, 1000.0) / 10
    log = server.log.read_text()
    for event in ("recording.started", "recording.stopped", "recording.completed"):
        assert f"event {event} recording_id={recording['recording_id']}" in log
    await meeting.http.aclose()
