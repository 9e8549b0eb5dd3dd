"""/api/v1/ffmpeg (endpoints 53-58): thin handlers over the service."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import current_user, ok, rate_limit, require_auth, responds, validate_request
from plugins.ffmpeg import schemas as s
from plugins.ffmpeg import service

bp = Blueprint("ffmpeg", __name__, url_prefix="/api/v1/ffmpeg")


def queued(job):
    return ok({"job_id": job.id, "status": job.status.value}, "job queued", 201)


@bp.post("/transcode")
@rate_limit("media")
@require_auth
@validate_request(s.TranscodeIn)
@responds(s.JobQueued, 201)
async def transcode(data: s.TranscodeIn):
    """Re-encode a file: container `format`, codecs, size (even), video bitrate."""
    return queued(await service.transcode(current_user(), data))


@bp.post("/extract-audio")
@rate_limit("media")
@require_auth
@validate_request(s.ExtractIn)
@responds(s.JobQueued, 201)
async def extract_audio(data: s.ExtractIn):
    """The sound of a file alone, in an audio `format` (mp3, wav, ogg, flac, m4a)."""
    return queued(await service.extract_audio(current_user(), data))


@bp.post("/extract-video")
@rate_limit("media")
@require_auth
@validate_request(s.ExtractIn)
@responds(s.JobQueued, 201)
async def extract_video(data: s.ExtractIn):
    """The picture of a file alone (no audio stream), in a video `format`."""
    return queued(await service.extract_video(current_user(), data))


@bp.post("/merge")
@rate_limit("media")
@require_auth
@validate_request(s.MergeIn)
@responds(s.JobQueued, 201)
async def merge(data: s.MergeIn):
    """Combine files: `concat` (one after another), `overlay` (picture in picture) or
    `side_by_side`."""
    return queued(await service.merge(current_user(), data))


@bp.post("/thumbnail")
@rate_limit("media")
@require_auth
@validate_request(s.ThumbnailIn)
@responds(s.JobQueued, 201)
async def thumbnail(data: s.ThumbnailIn):
    """A JPEG or PNG of the frame at `timestamp` seconds, scaled to width x height."""
    return queued(await service.thumbnail(current_user(), data))


@bp.get("/job/<int:job_id>/status")
@rate_limit("high")
@require_auth
@responds(s.JobStatusOut)
async def job_status(job_id: int):
    """A job's state and progress; when completed, `output_file_id` is the new file."""
    return ok(service.job_shape(await service.job_of(current_user(), job_id)))
