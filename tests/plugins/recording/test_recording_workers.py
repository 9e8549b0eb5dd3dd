"""Media bots on worker nodes (webrtc.bots_on = "workers"): the server records nothing itself."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import av
import pytest


@pytest.mark.services
async def test_a_worker_node_records_and_its_death_loses_nothing(
    postgres_url: str,
    redis_url: str,
    start_server: Any,
    call_env: dict,
    call_on: Any,
    tmp_path: Path,
    tone_of: Any,
    audio_of: Any,
) -> None:
    shared = {
        "PLATFORM_DATABASE_URL": postgres_url,
        "PLATFORM_REDIS_URL": redis_url,
        "PLATFORM_WEBRTC__BOTS_ON": "workers",
        "PLATFORM_RECORDING__CLAIM_TIMEOUT": "2",
        "PLATFORM_RECORDING__STALE_AFTER": "2",
        **call_env,
    }
    server = start_server(PLATFORM_NODE_NAME="front", **shared)
    meeting = call_on(server.url)
    host = await meeting.person("hana")
    meeting_id = await meeting.create("hana")
    client = meeting.client("hana", 440.0, (200, 30, 30))
    await client.start()
    try:
        # No worker yet: a clear 503 after the claim timeout, and the row says why.
        refused = await meeting.http.post(
            "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id}
        )
        assert refused.status_code == 503, refused.text
        assert "platform worker" in refused.json()["message"]
        listed = await meeting.http.get(
            "/api/v1/recording/list", headers=host, params={"meeting_id": meeting_id}
        )
        (failed,) = listed.json()["data"]["recordings"]
        assert failed["status"] == "failed" and "no media worker" in failed["error"]

        worker = start_server(command="worker", PLATFORM_NODE_NAME="media-1", **shared)
        started = await meeting.http.post(
            "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id}
        )
        assert started.status_code == 201, started.text
        recording_id = started.json()["data"]["recording_id"]
        assert f"recording {recording_id} of meeting {meeting_id} taken" in worker.log.read_text()
        await asyncio.sleep(3)
        stopped = await meeting.http.post(
            "/api/v1/recording/stop", headers=host, json={"recording_id": recording_id}
        )
        assert stopped.status_code == 200, stopped.text
        done = await meeting.wait_recording("hana", recording_id, "completed", "failed")
        assert done["status"] == "completed", done["error"]
        assert 2 <= done["duration"] <= 6

        # The worker dies mid-recording: the server composes what the worker wrote.
        started = await meeting.http.post(
            "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id}
        )
        assert started.status_code == 201, started.text
        second_id = started.json()["data"]["recording_id"]
        await asyncio.sleep(3)
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait()
        done = await meeting.wait_recording("hana", second_id, "completed", "failed")
        assert done["status"] == "completed", done["error"]
    finally:
        await client.stop()
    download = await meeting.http.get(f"/api/v1/recording/{second_id}/download", headers=host)
    path = tmp_path / "after-worker-crash.mp4"
    path.write_bytes(download.content)
    with av.open(str(path)) as container:
        assert {s.type for s in container.streams} >= {"audio", "video"}
    assert tone_of(audio_of(path), 48000, 440.0) > 20
    assert "from disk" in server.log.read_text()
    assert "media bot of meeting" not in server.log.read_text()  # the server ran no bot
    await meeting.http.aclose()
