"""Recording when things go wrong: no media, a killed server, the wrong people."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import av


async def test_rights_settings_and_no_media_fail_clearly(
    start_server: Any, call_env: dict, call_on: Any
) -> None:
    server = start_server(PLATFORM_RECORDING__MEDIA_TIMEOUT="2", **call_env)
    meeting = call_on(server.url)
    host = await meeting.person("hana")
    guest = await meeting.person("gus")
    meeting_id = await meeting.create("hana")
    joined = await meeting.http.post(f"/api/v1/meetings/{meeting_id}/join", headers=guest, json={})
    assert joined.status_code == 200

    as_guest = await meeting.http.post(
        "/api/v1/recording/start", headers=guest, json={"meeting_id": meeting_id}
    )
    assert as_guest.status_code == 403
    bad = await meeting.http.post(
        "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id, "quality": "8k"}
    )
    assert bad.status_code in (400, 422) and "quality" in bad.json()["message"]

    # Nobody is connected: no media can come, and the recording says so instead of hanging.
    started = await meeting.http.post(
        f"/api/v1/meetings/{meeting_id}/recording/start", headers=host, json={}
    )
    assert started.status_code == 201, started.text
    recording_id = started.json()["data"]["recording_id"]
    again = await meeting.http.post(
        "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id}
    )
    assert again.status_code == 409
    failed = await meeting.wait_recording("hana", recording_id, "completed", "failed")
    assert failed["status"] == "failed"
    assert failed["error"] == "no media arrived from any participant within 2 s"
    assert f"event recording.failed recording_id={recording_id}" in server.log.read_text()
    listed = await meeting.http.get(f"/api/v1/meetings/{meeting_id}/recordings", headers=guest)
    assert [r["status"] for r in listed.json()["data"]["recordings"]] == ["failed"]
    listed = await meeting.http.get(
        f"/api/v1/recording/list?meeting_id={meeting_id}&page_size=5", headers=guest
    )
    assert listed.json()["data"]["total"] == 1
    outsider = await meeting.person("otto")
    hidden = await meeting.http.get(f"/api/v1/recording/{recording_id}", headers=outsider)
    assert hidden.status_code == 404
    no_file = await meeting.http.get(f"/api/v1/recording/{recording_id}/download", headers=host)
    assert no_file.status_code == 409
    url = f"/api/v1/recording/{recording_id}"
    assert (await meeting.http.delete(url, headers=guest)).status_code == 403
    assert (await meeting.http.delete(url, headers=host)).status_code == 200
    assert (await meeting.http.get(url, headers=host)).status_code == 404

    no_recording = await meeting.create("hana")
    await meeting.http.put(
        f"/api/v1/meetings/{no_recording}",
        headers=host,
        json={"settings": {"enable_recording": False}},
    )
    refused = await meeting.http.post(
        "/api/v1/recording/start", headers=host, json={"meeting_id": no_recording}
    )
    assert refused.status_code == 403 and "disabled" in refused.json()["message"]
    await meeting.http.aclose()


async def test_a_killed_server_leaves_a_playable_recording(
    start_server: Any, call_env: dict, call_on: Any, tmp_path: Path, tone_of: Any, audio_of: Any
) -> None:
    first = start_server(**call_env)
    meeting = call_on(first.url)
    host = await meeting.person("hana")
    meeting_id = await meeting.create("hana")
    client = meeting.client("hana", 440.0, (200, 30, 30))
    await client.start()
    try:
        started = await meeting.http.post(
            "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id}
        )
        recording_id = started.json()["data"]["recording_id"]
        await asyncio.sleep(4)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
    finally:
        await client.stop()

    second = start_server(PLATFORM_RECORDING__STALE_AFTER="1", **call_env)
    meeting.http = type(meeting.http)(base_url=second.url, timeout=30)
    done = await meeting.wait_recording("hana", recording_id, "completed", "failed")
    assert done["status"] == "completed", done["error"]
    download = await meeting.http.get(f"/api/v1/recording/{recording_id}/download", headers=host)
    path = tmp_path / "after-crash.mp4"
    path.write_bytes(download.content)
    with av.open(str(path)) as container:
        duration = float(container.duration) / av.time_base
    assert 2.5 <= duration <= 6, duration  # what was written before the kill
    assert tone_of(audio_of(path), 48000, 440.0) > 20
    assert "composing" in second.log.read_text() and "from disk" in second.log.read_text()
    await meeting.http.aclose()
