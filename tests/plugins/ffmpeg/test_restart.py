"""A server killed in the middle of a job: after restart the job is run again, never stuck."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx

PLUGINS = '["users", "meetings", "media", "ffmpeg"]'


def login(base: str) -> dict[str, str]:
    account = {"username": "editor", "email": "ed@example.com", "password": "secret-pass"}
    assert httpx.post(f"{base}/api/v1/auth/register", json=account).status_code == 201
    credentials = {"username": "editor", "password": "secret-pass"}
    token = httpx.post(f"{base}/api/v1/auth/login", json=credentials).json()["data"]["token"]
    return {"Authorization": f"Bearer {token}"}


def status(base: str, headers: dict, job_id: int) -> dict:
    return httpx.get(f"{base}/api/v1/ffmpeg/job/{job_id}/status", headers=headers).json()["data"]


def test_a_job_interrupted_by_a_kill_is_retried_after_restart(
    start_server: Any, make_media: Any, tmp_path: Path
) -> None:
    clip = make_media("long.mp4", seconds=20, width=640, height=480)
    first = start_server(PLATFORM_PLUGINS__ENABLED=PLUGINS)
    headers = login(first.url)
    with clip.open("rb") as handle:
        uploaded = httpx.post(
            f"{first.url}/api/v1/media/upload", headers=headers, files={"file": handle}
        )
    file_id = uploaded.json()["data"]["file_id"]
    payload = {"file_id": file_id, "format": "webm", "video_codec": "libvpx-vp9"}
    queued = httpx.post(f"{first.url}/api/v1/ffmpeg/transcode", headers=headers, json=payload)
    job_id = queued.json()["data"]["job_id"]
    deadline = time.monotonic() + 60
    # Killed as soon as a worker runs it (not after the first progress, which a busy machine
    # may report only near the end).
    while (job := status(first.url, headers, job_id))["status"] == "pending":
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["status"] == "processing", job
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()

    second = start_server(PLATFORM_PLUGINS__ENABLED=PLUGINS, PLATFORM_JOBS__STALE_AFTER="1")
    deadline = time.monotonic() + 120
    while (job := status(second.url, headers, job_id))["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    assert job["status"] == "completed", job["error"]
    assert job["progress"] == 100
    output = httpx.get(
        f"{second.url}/api/v1/media/info/{job['output_file_id']}", headers=headers
    ).json()["data"]
    assert output["mime_type"] == "video/webm" and abs(output["duration"] - 20) < 0.5
    scratch = tmp_path / "data" / "media" / ".tmp"
    assert [p.name for p in scratch.iterdir()] == []  # the killed run's work files are gone
    log = second.log.read_text()
    assert f"job {job_id}: node" in log and "queued again" in log
