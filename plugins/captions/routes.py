"""GET /api/v1/meetings/{meeting_id}/transcript (an addition to the v1 contract)."""

from __future__ import annotations

from quart import Blueprint, Response, request

from kernel.api import (
    current_user,
    ok,
    paginate,
    rate_limit,
    require_auth,
    responds,
    validate_querystring,
)
from plugins.captions import schemas as s
from plugins.captions import service

bp = Blueprint("captions", __name__, url_prefix="/api/v1/meetings")
VTT = "text/vtt"


def wants_vtt(query: s.TranscriptQuery) -> bool:
    if query.format is not None:
        return query.format == "vtt"
    # JSON unless the client asks for WebVTT over it (`*/*` and no Accept mean JSON).
    return request.accept_mimetypes.best_match(["application/json", VTT]) == VTT


@bp.get("/<int:meeting_id>/transcript")
@rate_limit("high")
@require_auth
@validate_querystring(s.TranscriptQuery)
@responds(s.TranscriptOut)
async def transcript(meeting_id: int, query_args: s.TranscriptQuery):
    """The meeting's live-caption transcript (participants and admins), oldest first.

    JSON pages of segments, or with `?format=vtt` (or `Accept: text/vtt`) the whole
    transcript as WebVTT with each speaker as a voice span."""
    await service.readable(meeting_id, current_user())
    query = service.transcript_query(meeting_id)
    if wants_vtt(query_args):
        segments = await service.shapes(await query)
        return Response(service.webvtt(segments), content_type=f"{VTT}; charset=utf-8")
    rows, total = await paginate(query, query_args.page, query_args.page_size)
    return ok(
        {
            "segments": await service.shapes(rows),
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )
