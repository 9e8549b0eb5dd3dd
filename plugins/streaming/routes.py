"""/api/v1/streaming (endpoints 64-66) and the HLS files under /hls/{stream_id}/."""

from __future__ import annotations

from quart import Blueprint, send_file

from kernel.api import (
    ApiError,
    current_user,
    ok,
    rate_limit,
    require_auth,
    responds,
    validate_request,
)
from plugins.streaming import schemas as s
from plugins.streaming import service

bp = Blueprint("streaming", __name__, url_prefix="/api/v1/streaming")
hls = Blueprint("hls", __name__, url_prefix="/hls")


@bp.post("/start")
@rate_limit("media")
@require_auth
@validate_request(s.StartIn)
@responds(s.StreamOut, 201)
async def start(data: s.StartIn):
    """Stream a meeting live (host, moderators): mixed audio, video grid, H.264/AAC.

    `rtmp` pushes to `url` (a dropped target is retried with backoff; see `last_error`);
    `hls` is served by the platform at `playback_url`."""
    stream = await service.start(current_user(), data.meeting_id, data.protocol, data.url)
    return ok(service.shape(stream), "stream started", 201)


@bp.post("/stop")
@rate_limit("media")
@require_auth
@validate_request(s.StopIn)
@responds(s.StreamOut)
async def stop(data: s.StopIn):
    """Stop a stream; an HLS playlist is finalised (#EXT-X-ENDLIST)."""
    return ok(service.shape(await service.stop(current_user(), data.stream_id)), "stream stopped")


@bp.get("/<stream_id>/status")
@rate_limit("high")
@require_auth
@responds(s.StreamOut)
async def status(stream_id: str):
    """State, start time, average bitrate, reconnects and the last error of a stream."""
    return ok(service.shape(await service.readable(current_user(), stream_id)))


@hls.get("/<stream_id>/<name>")
async def hls_file(stream_id: str, name: str):
    """HLS playlist and segments (public: the random stream id is the key to them)."""
    path = service.hls_file(stream_id, name)
    if path is None:
        raise ApiError(404, "no such HLS file")
    playlist = name.endswith(".m3u8")
    response = await send_file(
        path, mimetype="application/vnd.apple.mpegurl" if playlist else "video/mp2t"
    )
    response.headers["Cache-Control"] = "no-cache" if playlist else "max-age=3600"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
