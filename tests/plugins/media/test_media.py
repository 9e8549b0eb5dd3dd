"""Media files over HTTP: upload, probe, download with ranges, access rules, listing, delete."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from plugins.media.models import MediaFile


def stored_files(tmp_path: Path) -> list[Path]:
    root = tmp_path / "data" / "media"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def body(response: Any) -> dict:
    return await response.get_json()


async def test_upload_probes_the_content_and_download_is_byte_exact(
    media_client: Any, people: Any, helpers: Any, make_media: Any, tmp_path: Path
) -> None:
    _, ann = await people.add("ann")
    content = make_media("clip.mp4", seconds=2, width=320, height=240).read_bytes()
    response = await helpers.upload(media_client, ann, content, "Präsentation ü.mp4")
    assert response.status_code == 201, await body(response)
    data = (await body(response))["data"]
    assert data["size"] == len(content) and data["mime_type"] == "video/mp4"
    assert data["file_type"] == "video" and data["file_name"] == "Präsentation ü.mp4"
    assert data["file_url"].endswith(f"/api/v1/media/download/{data['file_id']}")

    response = await media_client.get(f"/api/v1/media/info/{data['file_id']}", headers=ann)
    info = (await body(response))["data"]
    assert abs(info["duration"] - 2.0) < 0.1
    assert (info["width"], info["height"], info["codec"], info["audio_codec"]) == (
        320,
        240,
        "h264",
        "aac",
    )

    url = f"/api/v1/media/download/{data['file_id']}"
    whole = await media_client.get(url, headers=ann)
    assert whole.status_code == 200 and await whole.get_data() == content
    assert "filename*=UTF-8''Pr%C3%A4sentation%20%C3%BC.mp4" in whole.headers["Content-Disposition"]
    etag = whole.headers["ETag"]
    for header, expected in [
        ("bytes=100-199", content[100:200]),
        ("bytes=-50", content[-50:]),
        (f"bytes={len(content) - 10}-", content[-10:]),
        ("bytes=0-0", content[:1]),
    ]:
        part = await media_client.get(url, headers={**ann, "Range": header})
        assert part.status_code == 206, header
        assert await part.get_data() == expected, header
        assert part.headers["Content-Range"].endswith(f"/{len(content)}")
    beyond = await media_client.get(url, headers={**ann, "Range": f"bytes={len(content)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(content)}"
    cached = await media_client.get(url, headers={**ann, "If-None-Match": etag})
    assert cached.status_code == 304
    stale_range = await media_client.get(
        url, headers={**ann, "Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert stale_range.status_code == 200 and await stale_range.get_data() == content


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (os.urandom(5000), 415, "file: unsupported file type"),
        (b"", 422, "file: "),
        (b"\x00\x00\x00\x20ftypisom" + os.urandom(4000), 422, "file: damaged"),
    ],
)
async def test_rejected_uploads_leave_no_file_and_no_row(
    media_client: Any,
    people: Any,
    helpers: Any,
    tmp_path: Path,
    content: bytes,
    status: int,
    message: str,
) -> None:
    _, ann = await people.add("ann")
    response = await helpers.upload(media_client, ann, content, "clip.mp4")
    assert response.status_code == status
    assert (await body(response))["message"].startswith(message)
    assert await MediaFile.all().count() == 0
    assert stored_files(tmp_path) == []


async def test_a_truncated_mp4_is_refused_clearly(
    media_client: Any, people: Any, helpers: Any, make_media: Any, tmp_path: Path
) -> None:
    _, ann = await people.add("ann")
    content = make_media("clip.mp4").read_bytes()
    response = await helpers.upload(media_client, ann, content[: len(content) // 3], "clip.mp4")
    assert response.status_code == 422
    assert (await body(response))["code"] == 3001
    assert "moov atom not found" in (await body(response))["message"]
    assert stored_files(tmp_path) == []


async def test_over_the_size_limit_is_413_and_nothing_stays(
    make_client: Any, people_of: Any, helpers: Any, tmp_path: Path
) -> None:
    async with make_client(
        plugins={"enabled": ["meetings", "media"]}, media={"max_upload_size": 100_000}
    ) as client:
        _, ann = await people_of(client).add("ann")
        response = await helpers.upload(client, ann, b"a" * 150_000, "notes.txt")
        assert response.status_code == 413
        assert await MediaFile.all().count() == 0
    assert stored_files(tmp_path) == []


async def test_names_are_sanitised_and_documents_are_recognised(
    media_client: Any, people: Any, helpers: Any, tmp_path: Path
) -> None:
    _, ann = await people.add("ann")
    response = await helpers.upload(
        media_client, ann, b"minutes of the meeting\n", "../../etc/pass\x00wd.mp4"
    )
    data = (await body(response))["data"]
    assert (data["file_name"], data["file_type"], data["mime_type"]) == (
        "passwd.mp4",
        "document",
        "text/plain",
    )
    [path] = stored_files(tmp_path)
    assert (tmp_path / "data" / "media") in path.parents


async def test_a_missing_file_part_is_422(media_client: Any, people: Any) -> None:
    _, ann = await people.add("ann")
    response = await media_client.post("/api/v1/media/upload", headers=ann, form={"x": "1"})
    assert response.status_code == 415  # a urlencoded form is not multipart
    response = await media_client.post(
        "/api/v1/media/upload",
        headers={**ann, "Content-Type": "multipart/form-data; boundary=zz"},
        data=b'--zz\r\nContent-Disposition: form-data; name="meeting_id"\r\n\r\n\r\n--zz--\r\n',
    )
    assert response.status_code == 422
    assert (await body(response))["message"].startswith("file: required")


async def test_meeting_files_are_shared_with_its_members_only(
    media_client: Any, people: Any, helpers: Any, tmp_path: Path
) -> None:
    _, host = await people.add("host")
    _, member = await people.add("member")
    _, outsider = await people.add("outsider")
    _, admin = await people.add("root", admin=True)
    meeting_id = await helpers.meeting(media_client, host, member)

    refused = await helpers.upload(
        media_client, outsider, b"hello\n", "a.txt", meeting_id=str(meeting_id)
    )
    assert refused.status_code == 403 and "meeting_id" in (await body(refused))["message"]
    for wrong in ("abc", "99999999999999999999", "\u00b2", "0"):  # no id, too large, "²", 0
        bad = await helpers.upload(media_client, host, b"hello\n", "a.txt", meeting_id=wrong)
        assert bad.status_code == 422 and (await body(bad))["message"].startswith("meeting_id")
    assert stored_files(tmp_path) == []

    response = await helpers.upload(
        media_client, host, b"agenda\n", "agenda.txt", meeting_id=str(meeting_id)
    )
    file_id = (await body(response))["data"]["file_id"]
    await helpers.upload(media_client, host, b"private\n", "mine.txt")

    for who, status in [(host, 200), (member, 200), (admin, 200), (outsider, 404)]:
        info = await media_client.get(f"/api/v1/media/info/{file_id}", headers=who)
        assert info.status_code == status
        download = await media_client.get(f"/api/v1/media/download/{file_id}", headers=who)
        assert download.status_code == status
    assert (await body(info))["code"] == 3002

    listed = await media_client.get(f"/api/v1/media?meeting_id={meeting_id}", headers=member)
    assert [f["file_name"] for f in (await body(listed))["data"]["files"]] == ["agenda.txt"]
    listed = await media_client.get(f"/api/v1/media?meeting_id={meeting_id}", headers=outsider)
    assert listed.status_code == 403
    own = await media_client.get("/api/v1/media?page_size=1", headers=host)
    data = (await body(own))["data"]
    assert (data["total"], len(data["files"]), data["files"][0]["file_name"]) == (2, 1, "mine.txt")
    videos = await media_client.get("/api/v1/media?file_type=video", headers=host)
    assert (await body(videos))["data"]["total"] == 0
    wrong = await media_client.get("/api/v1/media?file_type=movie", headers=host)
    assert wrong.status_code in (400, 422)

    url = f"/api/v1/media/{file_id}"
    assert (await media_client.delete(url, headers=member)).status_code == 403
    assert (await media_client.delete(url, headers=host)).status_code == 200
    gone = await media_client.get(f"/api/v1/media/info/{file_id}", headers=host)
    assert gone.status_code == 404
    assert len(stored_files(tmp_path)) == 1  # only mine.txt is left


async def test_process_without_the_ffmpeg_plugin_is_503(
    make_client: Any, people_of: Any, helpers: Any
) -> None:
    async with make_client(plugins={"enabled": ["meetings", "media"]}) as client:
        _, ann = await people_of(client).add("ann")
        payload = {"file_id": 1, "operation": "transcode", "parameters": {"format": "mp4"}}
        response = await client.post("/api/v1/media/process", headers=ann, json=payload)
        assert response.status_code == 503
        payload["operation"] = "explode"
        response = await client.post("/api/v1/media/process", headers=ann, json=payload)
        assert response.status_code in (400, 422)
        assert "operation" in (await body(response))["message"]


async def test_a_deleted_account_takes_its_files_along(
    media_client: Any, people: Any, helpers: Any, tmp_path: Path
) -> None:
    user, ann = await people.add("ann")
    await helpers.upload(media_client, ann, b"notes\n", "notes.txt")
    platform = media_client.app.extensions["platform"]
    async with media_client.app.app_context():
        await platform.events.publish("user.deleted", user_id=user.id)
    assert await MediaFile.filter(user_id=user.id).count() == 0
    assert stored_files(tmp_path) == []
