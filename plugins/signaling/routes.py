"""/ws/signaling (38) and the signaling REST endpoints (39-43)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from quart import Blueprint
from tortoise.functions import Count

from kernel.api import (
    MAX_ID,
    ApiError,
    User,
    accept_websocket,
    current_user,
    deny_websocket,
    get_platform,
    ok,
    paginate,
    parse_id,
    rate_limit,
    require_auth,
    require_role,
    responds,
    validate_querystring,
    websocket_args,
    websocket_header,
)
from plugins.signaling import schemas as s
from plugins.signaling import service
from plugins.signaling.models import SessionStatus, SignalingMessage, SignalingSession

bp = Blueprint("signaling", __name__)
log = logging.getLogger("platform.signaling")


def _token(scope: dict, args: dict[str, str]) -> tuple[str | None, str | None]:
    """The access token and the subprotocol to answer with (browsers cannot set headers)."""
    protocols = scope.get("subprotocols") or []
    if len(protocols) >= 2 and protocols[0].lower() == "bearer":
        return protocols[1], "bearer"
    header = websocket_header(scope, "authorization") or ""
    if header.lower().startswith("bearer "):
        return header[7:].strip(), None
    return args.get("token"), None


async def _admit(scope: dict, args: dict[str, str]) -> tuple[User, int, str | None]:
    """Who connects to which meeting; ApiError (refused before accepting) when they may not."""
    meeting_id = parse_id(args.get("meeting_id"))
    if meeting_id is None:
        raise ApiError(422, f"meeting_id: a meeting id (1 to {MAX_ID}) is required")
    token, subprotocol = _token(scope, args)
    if not token:
        raise ApiError(401, "authentication required: token=<access token>")
    user, _claims = await get_platform().auth.authenticate(token)
    claimed = args.get("user_id")
    if claimed is not None and claimed != str(user.id):
        raise ApiError(403, "user_id does not match the token")
    await service.current().admit(user, meeting_id)
    return user, meeting_id, subprotocol


async def signaling_socket(scope: dict, receive: Any, send: Any) -> None:
    """WebSocket 38: `?meeting_id=&token=` (or the token as header or subprotocol).

    Served as raw ASGI ahead of Quart (kernel hook register_websocket_routes): no extra task,
    queue or wrapper per connection and per message.
    """
    state = service.current()
    args = websocket_args(scope)
    try:
        user, meeting_id, subprotocol = await _admit(scope, args)
    except ApiError as exc:
        await deny_websocket(scope, send, exc.status, exc.message, exc.code)
        return
    except Exception:
        log.exception("admitting a signaling connection failed")
        await deny_websocket(scope, send, 500, "internal server error")
        return
    ws = await accept_websocket(send, subprotocol, compression=state.config.compression)
    conn, _resumed = await state.open(
        ws,
        user,
        meeting_id,
        args.get("session_id"),
        websocket_header(scope, "user-agent"),
    )
    conn.reader = asyncio.current_task()
    ended_by_client = False
    try:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.disconnect":
                return  # gone: nothing more can be sent (finally holds the session)
            if kind != "websocket.receive":
                continue  # websocket.connect
            raw = message.get("text")
            if raw is None:
                raw = message.get("bytes") or b""
            if not await state.handle(conn, raw):
                ended_by_client = True
                break
            if conn.close_code is not None:
                break
        await conn.finished()  # let queued messages and the close frame go out
    except asyncio.CancelledError:
        pass
    except Exception:  # the server's side of the socket failed: the session is held as dropped
        log.debug("signaling socket of session %s failed", conn.session_id, exc_info=True)
    finally:
        if not ended_by_client:
            # The socket ended under us (or we closed it): hold the session for a reconnect.
            with contextlib.suppress(Exception):
                await asyncio.shield(state.dropped(conn))


@bp.get("/api/v1/sessions/<session_id>")
@rate_limit("high")
@require_auth
@responds(s.SessionOut)
async def get_session(session_id: str):
    """A signaling session (its owner, participants of its meeting, admins)."""
    session = await SignalingSession.get_or_none(id=session_id[:32])
    if session is None:
        raise ApiError(404, f"session {session_id} not found")
    if session.user_id != current_user().id:
        await service.room_access(session.meeting_id, current_user())
    return ok(service.session_shape(session))


@bp.get("/api/v1/sessions/room/<int:meeting_id>")
@rate_limit("high")
@require_auth
@responds(s.SessionList)
async def room_sessions(meeting_id: int):
    """Live sessions of a meeting's room, on every node."""
    await service.room_access(meeting_id, current_user())
    rows = await SignalingSession.filter(
        meeting_id=meeting_id, status__in=list(service.LIVE)
    ).order_by("connected_at")
    return ok({"sessions": [service.session_shape(r) for r in rows], "total": len(rows)})


@bp.get("/api/v1/messages/history/<int:meeting_id>")
@rate_limit("high")
@require_auth
@validate_querystring(s.HistoryQuery)
@responds(s.HistoryList)
async def history(meeting_id: int, query_args: s.HistoryQuery):
    """Room history: joins, leaves, media state and chat; page 1 is the newest, newest last."""
    await service.room_access(meeting_id, current_user())
    query = SignalingMessage.filter(meeting_id=meeting_id).order_by("-created_at", "-id")
    rows, total = await paginate(query, query_args.page, query_args.page_size)
    return ok(
        {
            "messages": [service.history_shape(r) for r in reversed(rows)],
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )


@bp.get("/api/v1/stats/overview")
@rate_limit("high")
@require_role("admin")
@responds(s.OverviewOut)
async def overview():
    """Connections, rooms and sessions of the deployment; this node's message rates (admin)."""
    live = SignalingSession.filter(status__in=list(service.LIVE))
    connected = SignalingSession.filter(status=SessionStatus.CONNECTED)
    rooms = await live.distinct().values_list("meeting_id", flat=True)
    nodes = await connected.distinct().values_list("node", flat=True)
    return ok(
        {
            "connections": await connected.count(),
            "rooms": len(set(rooms)),
            "sessions": await live.count(),
            "nodes": sorted(set(nodes)),
            "node": service.current().stats(),
        }
    )


@bp.get("/api/v1/stats/rooms")
@rate_limit("high")
@require_role("admin")
@responds(s.RoomStatsList)
async def room_stats():
    """Per room: live sessions, users, kept messages, messages delivered by this node (admin)."""
    state = service.current()
    rows = await SignalingSession.filter(status__in=list(service.LIVE)).values(
        "meeting_id", "user_id"
    )
    rooms: dict[int, set[int]] = {}
    sessions: dict[int, int] = {}
    for row in rows:
        rooms.setdefault(row["meeting_id"], set()).add(row["user_id"])
        sessions[row["meeting_id"]] = sessions.get(row["meeting_id"], 0) + 1
    kept = {
        row["meeting_id"]: row["n"]
        for row in await SignalingMessage.filter(meeting_id__in=list(rooms))
        .annotate(n=Count("id"))
        .group_by("meeting_id")
        .values("meeting_id", "n")
    }
    items = [
        {
            "meeting_id": mid,
            "sessions": sessions[mid],
            "users": len(users),
            "messages_kept": kept.get(mid, 0),
            "messages_delivered_here": state.hub.delivered_by_room.get(mid, 0),
        }
        for mid, users in sorted(rooms.items())
    ]
    return ok({"rooms": items, "total": len(items)})
