"""Media files: store uploads and job outputs, decide what they are, and who may read them.

Other plugins (ffmpeg, recording, AI) use `readable_file`, `local_copy` and `add_file`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
import unicodedata
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kernel.api import (
    MAX_ID,
    ApiError,
    FormPart,
    Role,
    StorageLimitExceeded,
    User,
    get_platform,
    iso,
    parse_id,
    public_url,
    publish,
)
from plugins.media.models import FileType, MediaFile
from plugins.media.probe import MediaInfo, ProbeError, UnsupportedType, probe
from plugins.meetings import service as meetings

log = logging.getLogger("platform.media")
UPLOAD_FAILED = 3001
FILE_NOT_FOUND = 3002


def storage() -> Any:
    return get_platform().storage


def max_upload_size() -> int:
    return int(get_platform().settings.get("media.max_upload_size"))


def safe_name(name: str | None, fallback: str = "file") -> str:
    """A file name fit for a Content-Disposition header: no path, no control characters."""
    name = unicodedata.normalize("NFC", (name or "").replace("\\", "/").rsplit("/", 1)[-1])
    name = re.sub(r"[\x00-\x1f\x7f\"]", "", name).strip(" .")
    return name[:255] or fallback


def new_key() -> str:
    now = datetime.now(UTC)
    return f"media/{now:%Y/%m}/{uuid.uuid4().hex}"


# -- who may do what ------------------------------------------------------------------------


async def can_read(user: User, file: MediaFile) -> bool:
    """Owner, admins, and members of the file's meeting."""
    if user.role == Role.ADMIN or file.user_id == user.id:
        return True
    if file.meeting_id is None:
        return False
    try:
        return (await meetings.access(file.meeting_id, user)).is_member
    except ApiError:  # the meeting is gone
        return False


async def readable_file(file_id: int, user: User, field: str = "file_id") -> MediaFile:
    """The file if `user` may read it; otherwise 404 (a file you may not see does not exist)."""
    file = await MediaFile.get_or_none(id=file_id)
    if file is None or not await can_read(user, file):
        raise ApiError(404, f"{field}: file {file_id} not found", FILE_NOT_FOUND)
    return file


async def check_meeting(meeting_id: int, user: User) -> None:
    acc = await meetings.access(meeting_id, user)
    acc.require(acc.is_member, "meeting_id: only participants of the meeting may add files to it")


# -- adding files -----------------------------------------------------------------------------


async def _probe_stored(key: str) -> MediaInfo:
    async with storage().local_path(key) as path:
        return await asyncio.to_thread(probe, path)


async def _create(
    user_id: int, key: str, size: int, name: str, meeting_id: int | None, info: MediaInfo
) -> MediaFile:
    file = await MediaFile.create(
        user_id=user_id,
        meeting_id=meeting_id,
        file_name=name,
        storage_key=key,
        file_type=FileType(info.file_type),
        mime_type=info.mime_type,
        size=size,
        duration=info.duration,
        width=info.width,
        height=info.height,
        codec=info.codec,
        audio_codec=info.audio_codec,
        bitrate=info.bitrate,
        format_name=info.format_name,
    )
    await publish("media.uploaded", file_id=file.id, user_id=user_id, meeting_id=meeting_id)
    return file


async def _checked_info(key: str) -> MediaInfo:
    try:
        return await _probe_stored(key)
    except UnsupportedType as exc:
        raise ApiError(415, f"file: unsupported file type ({exc})", UPLOAD_FAILED) from None
    except ProbeError as exc:
        raise ApiError(422, f"file: damaged or unreadable media ({exc})", UPLOAD_FAILED) from None


async def upload(user: User, parts: AsyncIterator[FormPart]) -> MediaFile:
    """Store the multipart upload's `file` part, then probe it; `meeting_id` may come first."""
    meeting_id: int | None = None
    key: str | None = None
    name = size = None
    try:
        async for part in parts:
            if part.name == "meeting_id" and part.filename is None:
                raw = (await part.read(20)).decode("utf-8", "replace").strip()
                if raw:
                    meeting_id = parse_id(raw)
                    if meeting_id is None:
                        raise ApiError(422, f"meeting_id: must be an id from 1 to {MAX_ID}")
                    await check_meeting(meeting_id, user)
            elif part.name == "file" and part.filename is not None and key is None:
                name = safe_name(part.filename)
                key = new_key()
                try:
                    size = await storage().save(key, part.chunks(), limit=max_upload_size())
                except StorageLimitExceeded:
                    key = None
                    raise ApiError(
                        413, f"file: larger than {max_upload_size()} bytes", UPLOAD_FAILED
                    ) from None
        if key is None:
            raise ApiError(422, "file: required (a multipart part named 'file' with a filename)")
        if meeting_id is not None:
            await check_meeting(meeting_id, user)  # again: the file part may have come first
        if size == 0:
            raise ApiError(422, "file: the file is empty", UPLOAD_FAILED)
        info = await _checked_info(key)
        file = await _create(user.id, key, size, name, meeting_id, info)
    except BaseException:
        # Nothing half-written stays: a failure after the bytes landed removes them.
        if key is not None:
            await asyncio.shield(storage().delete(key))
        raise
    log.info("file %s uploaded by user %s: %s %s bytes", file.id, user.id, info.mime_type, size)
    return file


async def add_file(
    user_id: int, path: Path, file_name: str, meeting_id: int | None = None
) -> MediaFile:
    """Store a local file made by the platform (a job output) as a new media file of `user_id`."""
    info = await asyncio.to_thread(probe, path)
    key = new_key()
    size = await storage().import_file(key, path)
    try:
        return await _create(user_id, key, size, safe_name(file_name), meeting_id, info)
    except BaseException:
        await asyncio.shield(storage().delete(key))
        raise


@contextlib.asynccontextmanager
async def inline_file(data: str, limit: int, field: str) -> AsyncIterator[Path]:
    """A temporary local file with the bytes of base64 `data` (AI inputs sent inline)."""
    if len(data) > limit * 4 // 3 + 4:
        raise ApiError(413, f"{field}: more than {limit} bytes")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, f"{field}: not valid base64") from None
    path = Path(storage().scratch_dir()) / f"inline-{uuid.uuid4().hex}"
    await asyncio.to_thread(path.write_bytes, raw)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def local_copy(file: MediaFile) -> AsyncIterator[Path]:
    """A local path with the file's bytes, for libraries that need one (PyAV)."""
    async with storage().local_path(file.storage_key) as path:
        yield path


# -- reading, listing, deleting -------------------------------------------------------------


def file_url(file: MediaFile) -> str:
    return public_url(f"/api/v1/media/download/{file.id}")


def file_shape(file: MediaFile) -> dict[str, Any]:
    return {
        "file_id": file.id,
        "user_id": file.user_id,
        "meeting_id": file.meeting_id,
        "file_name": file.file_name,
        "file_url": file_url(file),
        "file_type": file.file_type.value,
        "mime_type": file.mime_type,
        "size": file.size,
        "duration": file.duration,
        "width": file.width,
        "height": file.height,
        "codec": file.codec,
        "audio_codec": file.audio_codec,
        "bitrate": file.bitrate,
        "created_at": iso(file.created_at),
    }


async def listing(user: User, meeting_id: int | None, file_type: str | None) -> Any:
    """Files of a meeting (its members, admins), else the caller's own (admins: everyone's)."""
    query = MediaFile.all()
    if meeting_id is not None:
        acc = await meetings.access(meeting_id, user)
        acc.require(acc.is_member, "only participants of the meeting see its files")
        query = query.filter(meeting_id=meeting_id)
    elif user.role != Role.ADMIN:
        query = query.filter(user_id=user.id)
    if file_type:
        query = query.filter(file_type=FileType(file_type))
    return query.order_by("-created_at", "-id")


async def delete(user: User, file_id: int) -> None:
    file = await readable_file(file_id, user)
    if file.user_id != user.id and user.role != Role.ADMIN:
        raise ApiError(403, "forbidden: only the owner or an admin deletes a file")
    await _delete(file)


async def _delete(file: MediaFile) -> None:
    await file.delete()
    if not await storage().delete(file.storage_key):
        log.warning("file %s: its bytes %s were already gone", file.id, file.storage_key)
    await publish("media.deleted", file_id=file.id, user_id=file.user_id)


async def user_deleted(user_id: int) -> None:
    """A deleted account's files go with it."""
    for file in await MediaFile.filter(user_id=user_id):
        await _delete(file)


def operations() -> dict[str, Any]:
    """Processing operations that plugins registered for POST /media/process."""
    registered: dict[str, Any] = {}

    def register(name: str, submit: Any) -> None:
        registered[name] = submit

    get_platform().plugins.hook.register_media_operations(register=register)
    return registered


async def delete_file(file_id: int) -> None:
    """Delete a file for another plugin that owns its lifecycle (a recording's file)."""
    file = await MediaFile.get_or_none(id=file_id)
    if file is not None:
        await _delete(file)
