"""/api/v1/media (endpoints 44-49): thin handlers over the service."""

from __future__ import annotations

from quart import Blueprint
from quart_schema import DataSource, document_request

from kernel.api import (
    ApiError,
    body_limit,
    current_user,
    ok,
    paginate,
    rate_limit,
    require_auth,
    responds,
    stream_form,
    validate_querystring,
    validate_request,
)
from plugins.media import downloads, service
from plugins.media import schemas as s

bp = Blueprint("media", __name__, url_prefix="/api/v1/media")


@bp.post("/upload")
@body_limit("media.max_upload_size")
@rate_limit("upload")
@require_auth
@document_request(s.UploadIn, source=DataSource.FORM_MULTIPART)
@responds(s.UploadOut, 201)
async def upload():
    """Upload a file: multipart `file` (required) and `meeting_id` (optional).

    The content decides the type (video, audio, image or document), not the name or the
    client's MIME type; media is probed (duration, size, codecs). 413 above
    `media.max_upload_size`, 415 for unsupported content, 422 for damaged media.
    """
    limit = service.max_upload_size() + 64 * 1024  # the file plus the multipart framing
    file = await service.upload(current_user(), stream_form(limit=limit))
    shape = service.file_shape(file)
    keys = ("file_id", "file_url", "size", "mime_type", "file_type", "file_name")
    return ok({key: shape[key] for key in keys}, "file uploaded", 201)


@bp.get("/download/<int:file_id>")
@rate_limit("high")
@require_auth
async def download(file_id: int):
    """The file's bytes: `Range` (206), `ETag`/`If-None-Match` (304), original name."""
    return await downloads.response(await service.readable_file(file_id, current_user()))


@bp.get("")
@rate_limit("high")
@require_auth
@validate_querystring(s.MediaListQuery)
@responds(s.MediaList)
async def list_files(query_args: s.MediaListQuery):
    """Files of a meeting (`meeting_id`, for its participants) or your own; newest first."""
    file_type = query_args.file_type.value if query_args.file_type else None
    query = await service.listing(current_user(), query_args.meeting_id, file_type)
    rows, total = await paginate(query, query_args.page, query_args.page_size)
    return ok(
        {
            "files": [service.file_shape(f) for f in rows],
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )


@bp.post("/process")
@rate_limit("media")
@require_auth
@validate_request(s.ProcessIn)
@responds(s.JobOut, 201)
async def process(data: s.ProcessIn):
    """Start a processing job on a file (the generic form of the /api/v1/ffmpeg jobs)."""
    submit = service.operations().get(data.operation)
    if submit is None:
        raise ApiError(503, f"operation: {data.operation!r} needs the ffmpeg plugin enabled")
    answer = await submit(current_user(), {**data.parameters, "file_id": data.file_id})
    return ok(answer, "job queued", 201)


@bp.get("/info/<int:file_id>")
@rate_limit("high")
@require_auth
@responds(s.MediaOut)
async def info(file_id: int):
    """What the file is: type, size, and for media duration, dimensions and codecs."""
    return ok(service.file_shape(await service.readable_file(file_id, current_user())))


@bp.delete("/<int:file_id>")
@rate_limit("general")
@require_auth
@responds(s.Deleted)
async def delete(file_id: int):
    """Delete a file and its bytes (its owner or an admin)."""
    await service.delete(current_user(), file_id)
    return ok({"file_id": file_id}, "file deleted")
