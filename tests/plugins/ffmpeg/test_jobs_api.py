"""FFmpeg jobs over HTTP: each operation end to end, checked by probing its output again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from plugins.media.probe import probe


async def test_transcode_runs_as_a_job_and_its_output_is_a_new_file(
    studio: Any, make_media: Any, tmp_path: Path, recorder: Any
) -> None:
    _, ann = await studio.people.add("ann")
    file_id = await studio.upload(ann, make_media("talk.mp4", seconds=2))
    status, answer = await studio.post(
        ann,
        "/api/v1/ffmpeg/transcode",
        {"file_id": file_id, "format": "webm", "width": 160, "height": 120, "bitrate": 300_000},
    )
    assert status == 201, answer
    assert answer["data"]["status"] == "pending"
    job = await studio.wait(ann, answer["data"]["job_id"])
    assert job["status"] == "completed", job["error"]
    assert (job["file_id"], job["job_type"], job["progress"]) == (file_id, "transcode", 100)
    assert job["started_at"] and job["completed_at"]
    output = await studio.info(ann, job["output_file_id"])
    assert (output["mime_type"], output["width"], output["height"]) == ("video/webm", 160, 120)
    assert output["file_name"] == "talk-transcode.webm"
    assert abs(output["duration"] - 2.0) < 0.15
    again = probe(await studio.fetch(ann, job["output_file_id"], tmp_path / "out.webm"))
    assert (again.codec, again.audio_codec) == ("vp8", "opus")
    [event] = recorder.named("job.completed")
    assert event["result"] == {"output_file_id": job["output_file_id"]}


@pytest.mark.parametrize(
    ("path", "payload", "check"),
    [
        (
            "/api/v1/ffmpeg/extract-audio",
            {"format": "mp3"},
            lambda info: info.file_type == "audio" and not info.has_video,
        ),
        (
            "/api/v1/ffmpeg/extract-video",
            {"format": "mp4"},
            lambda info: info.has_video and not info.has_audio,
        ),
        (
            "/api/v1/ffmpeg/thumbnail",
            {"timestamp": 1.0, "width": 160, "height": 90, "format": "png"},
            lambda info: (info.mime_type, info.width, info.height) == ("image/png", 160, 90),
        ),
        (
            "/api/v1/media/process",
            {"operation": "thumbnail", "parameters": {"timestamp": 0.5, "width": 64}},
            lambda info: (info.mime_type, info.width, info.height) == ("image/jpeg", 64, 48),
        ),
    ],
)
async def test_each_operation_produces_what_it_promises(
    studio: Any, make_media: Any, tmp_path: Path, path: str, payload: dict, check: Any
) -> None:
    _, ann = await studio.people.add("ann")
    file_id = await studio.upload(ann, make_media("clip.mp4", seconds=2))
    status, answer = await studio.post(ann, path, {"file_id": file_id, **payload})
    assert status == 201, answer
    job = await studio.wait(ann, answer["data"]["job_id"])
    assert job["status"] == "completed", job["error"]
    output = probe(await studio.fetch(ann, job["output_file_id"], tmp_path / "output"))
    assert check(output), output


async def test_concat_lasts_as_long_as_its_inputs_together(
    studio: Any, make_media: Any, tmp_path: Path
) -> None:
    _, ann = await studio.people.add("ann")
    first = await studio.upload(ann, make_media("a.mp4", seconds=1.5))
    second = await studio.upload(ann, make_media("b.mp4", seconds=2.0, tone=880))
    status, answer = await studio.post(
        ann,
        "/api/v1/ffmpeg/merge",
        {"file_ids": [first, second], "output_format": "mp4", "merge_type": "concat"},
    )
    assert status == 201, answer
    job = await studio.wait(ann, answer["data"]["job_id"])
    assert job["status"] == "completed", job["error"]
    output = await studio.info(ann, job["output_file_id"])
    assert abs(output["duration"] - 3.5) < 0.15


async def test_invalid_requests_are_refused_up_front(studio: Any, make_media: Any) -> None:
    _, ann = await studio.people.add("ann")
    _, bob = await studio.people.add("bob")
    video = await studio.upload(ann, make_media("v.mp4", seconds=1))
    silent = await studio.upload(ann, make_media("s.mp4", seconds=1, audio=False))
    sound = await studio.upload(ann, make_media("t.wav", seconds=1))
    cases = [
        ("/api/v1/ffmpeg/transcode", {"file_id": video, "format": "avi2"}, "format"),
        (
            "/api/v1/ffmpeg/transcode",
            {"file_id": video, "format": "mp4", "video_codec": "nonsense"},
            "video_codec",
        ),
        ("/api/v1/ffmpeg/transcode", {"file_id": video, "format": "webm", "width": 161}, "width"),
        ("/api/v1/ffmpeg/transcode", {"file_id": video, "format": "mp4", "width": 2}, "width"),
        ("/api/v1/ffmpeg/thumbnail", {"file_id": video, "timestamp": 5}, "timestamp"),
        ("/api/v1/ffmpeg/thumbnail", {"file_id": sound, "timestamp": 0}, "file_id"),
        ("/api/v1/ffmpeg/extract-audio", {"file_id": silent, "format": "mp3"}, "file_id"),
        ("/api/v1/ffmpeg/extract-audio", {"file_id": video, "format": "mp4"}, "format"),
        (
            "/api/v1/ffmpeg/merge",
            {"file_ids": [video, sound], "output_format": "mp4", "merge_type": "concat"},
            "file_ids",
        ),
        (
            "/api/v1/ffmpeg/merge",
            {"file_ids": [video, sound], "output_format": "mp4", "merge_type": "overlay"},
            "file_ids",
        ),
        (
            "/api/v1/media/process",
            {"file_id": video, "operation": "transcode", "parameters": {"format": 5}},
            "parameters.format",
        ),
    ]
    for path, payload, field in cases:
        status, answer = await studio.post(ann, path, payload)
        assert status == 422, (path, payload, answer)
        assert answer["message"].startswith(field), (field, answer["message"])
    status, answer = await studio.post(
        bob, "/api/v1/ffmpeg/transcode", {"file_id": video, "format": "mp4"}
    )
    assert (status, answer["code"]) == (404, 3002)  # not bob's file: it does not exist for him
    jobs = studio.client.app.extensions["platform"].jobs
    async with studio.client.app.app_context():
        assert await jobs.get(1) is None  # nothing was queued


async def test_a_job_is_visible_to_its_owner_only(studio: Any, make_media: Any) -> None:
    _, ann = await studio.people.add("ann")
    _, bob = await studio.people.add("bob")
    _, root = await studio.people.add("root", admin=True)
    file_id = await studio.upload(ann, make_media("v.mp4", seconds=1))
    _, answer = await studio.post(
        ann, "/api/v1/ffmpeg/extract-audio", {"file_id": file_id, "format": "wav"}
    )
    job_id = answer["data"]["job_id"]
    assert (await studio.wait(root, job_id))["status"] == "completed"
    response = await studio.client.get(f"/api/v1/ffmpeg/job/{job_id}/status", headers=bob)
    assert response.status_code == 404
