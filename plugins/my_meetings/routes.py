"""/api/v1/my/meetings (35-37): the list shape and paging of GET /api/v1/meetings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from quart import Blueprint

from kernel.api import (
    PageQuery,
    current_user,
    ok,
    paginate,
    rate_limit,
    require_auth,
    responds,
    validate_querystring,
)
from plugins.meetings.schemas import MeetingList
from plugins.meetings.service import meeting_summary
from plugins.my_meetings import service

bp = Blueprint("my_meetings", __name__, url_prefix="/api/v1/my/meetings")


async def _page(select: Callable[[int], Any], query_args: PageQuery):
    rows, total = await paginate(select(current_user().id), query_args.page, query_args.page_size)
    return ok(
        {
            "meetings": [meeting_summary(m) for m in rows],
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )


@bp.get("")
@rate_limit("high")
@require_auth
@validate_querystring(PageQuery)
@responds(MeetingList)
async def my_meetings(query_args: PageQuery):
    """Meetings I created or take part in, newest start first."""
    return await _page(service.mine, query_args)


@bp.get("/upcoming")
@rate_limit("high")
@require_auth
@validate_querystring(PageQuery)
@responds(MeetingList)
async def upcoming(query_args: PageQuery):
    """My meetings still to come, soonest first."""
    return await _page(service.upcoming, query_args)


@bp.get("/history")
@rate_limit("high")
@require_auth
@validate_querystring(PageQuery)
@responds(MeetingList)
async def history(query_args: PageQuery):
    """My past meetings, newest first."""
    return await _page(service.history, query_args)
