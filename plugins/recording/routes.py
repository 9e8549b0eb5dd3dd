"""/api/v1/recording (endpoints 59-63 and the download): thin handlers over the service."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import (
    ApiError,
    current_user,
    ok,
    paginate,
    rate_limit,
    require_auth,
    responds,
    validate_querystring,
    validate_request,
)
from plugins.media import downloads
from plugins.media import service as media
from plugins.recording import schemas as s
from plugins.recording import service

bp = Blueprint("recording", __name__, url_prefix="/api/v1/recording")


@bp.post("/start")
@rate_limit("media")
@require_auth
@validate_request(s.StartIn)
@responds(s.RecordingOut, 201)
async def start(data: s.StartIn):
    """Record a meeting (its host, moderators or admins, when its settings allow recording).

    The server joins the meeting as a receive-only participant and records everyone's audio and
    video from when each arrives. Fails (status `failed`) if no media comes within
    `recording.media_timeout` seconds."""
    options = data.model_dump(exclude={"meeting_id"})
    recording = await service.start(current_user(), data.meeting_id, options)
    return ok(service.shape(recording), "recording started", 201)


@bp.post("/stop")
@rate_limit("media")
@require_auth
@validate_request(s.StopIn)
@responds(s.RecordingOut)
async def stop(data: s.StopIn):
    """Stop: the recording turns `processing` while its file is composed, then `completed`."""
    recording = await service.stop(current_user(), data.recording_id)
    return ok(service.shape(recording), "recording stopped")


@bp.get("/list")
@rate_limit("high")
@require_auth
@validate_querystring(s.ListQuery)
@responds(s.RecordingList)
async def list_recordings(query_args: s.ListQuery):
    """Recordings of a meeting (its participants), or your own; newest first."""
    query = await service.listing(current_user(), query_args.meeting_id)
    rows, total = await paginate(query, query_args.page, query_args.page_size)
    return ok(
        {
            "recordings": [service.shape(r) for r in rows],
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )


@bp.get("/<int:recording_id>")
@rate_limit("high")
@require_auth
@responds(s.RecordingOut)
async def get(recording_id: int):
    """A recording's state; `file_id` and `download_url` once completed."""
    return ok(service.shape(await service.readable(current_user(), recording_id)))


@bp.get("/<int:recording_id>/download")
@rate_limit("high")
@require_auth
async def download(recording_id: int):
    """The recorded file (Range requests supported); 409 until it is completed."""
    recording = await service.readable(current_user(), recording_id)
    if recording.file_id is None:
        raise ApiError(409, f"recording {recording_id} is {recording.status.value}: no file yet")
    return await downloads.response(await media.readable_file(recording.file_id, current_user()))


@bp.delete("/<int:recording_id>")
@rate_limit("general")
@require_auth
async def delete(recording_id: int):
    """Delete a recording and its file (who recorded it, the meeting's host, admins)."""
    await service.delete(current_user(), recording_id)
    return ok({"recording_id": recording_id}, "recording deleted")
