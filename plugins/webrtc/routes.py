"""/api/v1/webrtc (endpoints 50-52): the media bot's peers of a room on this server."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import current_user, ok, rate_limit, require_auth, responds, validate_request
from plugins.webrtc import schemas as s
from plugins.webrtc import service

bp = Blueprint("webrtc", __name__, url_prefix="/api/v1/webrtc")


@bp.get("/room/<int:room_id>/peers")
@rate_limit("high")
@require_auth
@responds(s.PeerList)
async def peers(room_id: int):
    """The server's peer connections in a meeting (room_id = meeting_id) and their state."""
    await service.room_access(room_id, current_user())
    bot = service.bots().bots.get(room_id)
    return ok({"peers": service.peer_rows(room_id, bot)})


@bp.get("/room/<int:room_id>/stats")
@rate_limit("high")
@require_auth
@responds(s.RoomStats)
async def stats(room_id: int):
    """Bitrate, packets received and lost, jitter per peer (from aiortc's statistics)."""
    await service.room_access(room_id, current_user())
    bot = service.bots().bots.get(room_id)
    rows = [await service.peer_stats(peer) for peer in (bot.peers.values() if bot else [])]
    return ok({"room_id": room_id, "peers": rows})


@bp.post("/peer/<peer_id>/media")
@rate_limit("general")
@require_auth
@validate_request(s.MediaIn)
@responds(s.MediaOut)
async def media(peer_id: str, data: s.MediaIn):
    """Mute (false) or unmute (true) a peer's audio or video at the server: a muted track is
    not recorded, streamed or analysed. Host, moderators and admins."""
    bot, peer = service.find_peer(peer_id)
    await service.room_access(bot.meeting_id, current_user(), manage=True)
    for kind, enabled in (("audio", data.audio_enabled), ("video", data.video_enabled)):
        if enabled is False:
            peer.muted.add(kind)
        elif enabled is True:
            peer.muted.discard(kind)
    return ok({"peer_id": peer_id, "muted": sorted(peer.muted)})
