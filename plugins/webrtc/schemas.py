"""Request and response schemas of /api/v1/webrtc."""

from __future__ import annotations

from kernel.api import Out, Schema


class PeerOut(Out):
    peer_id: str
    room_id: int
    user_id: int | None
    status: str
    peer_type: str
    media_type: str
    muted: bool
    connected_at: str


class PeerList(Out):
    peers: list[PeerOut]


class PeerStats(Out):
    peer_id: str
    user_id: int | None
    status: str
    bitrate: int
    bytes_received: int
    packets_received: int
    packets_lost: int
    jitter: float


class RoomStats(Out):
    room_id: int
    peers: list[PeerStats]


class MediaIn(Schema):
    audio_enabled: bool | None = None
    video_enabled: bool | None = None
    screen_share: bool | None = None


class MediaOut(Out):
    peer_id: str
    muted: list[str]
