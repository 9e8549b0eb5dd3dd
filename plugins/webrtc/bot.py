"""The media bot: a receive-only participant that joins a room over /ws/signaling with aiortc.

It speaks the same protocol as any client: it connects with its own token, offers every other
session a connection with receive-only audio and video transceivers, and takes the answers.
Standard mesh clients need no special code to be recorded. Every incoming track is fanned out
through aiortc's MediaRelay to any number of consumers (recording, streaming, live AI).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import websockets
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.sdp import candidate_from_sdp

log = logging.getLogger("platform.webrtc")
TrackConsumer = Callable[["Peer", Any], None]


@dataclass
class Peer:
    """The bot's connection to one session of the room."""

    session_id: str
    user_id: int | None
    pc: RTCPeerConnection
    connected_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    kinds: set[str] = field(default_factory=set)
    muted: set[str] = field(default_factory=set)

    @property
    def status(self) -> str:
        state = self.pc.connectionState
        if state == "connected":
            return "connected"
        if state in ("new", "connecting"):
            return "connecting"
        return "disconnected"


def ice_configuration(servers: list[dict[str, Any]]) -> RTCConfiguration:
    ice = [
        RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
        for s in servers
        if s.get("urls")
    ]
    return RTCConfiguration(iceServers=ice)


class MediaBot:
    def __init__(self, meeting_id: int, url: str, token: str) -> None:
        self.meeting_id = meeting_id
        self.url = url
        self.token = token
        self.session_id: str | None = None
        self.peers: dict[str, Peer] = {}
        self.consumers: list[TrackConsumer] = []
        self.tracks: list[tuple[Peer, Any]] = []
        self.relay = MediaRelay()
        self._ice: RTCConfiguration = RTCConfiguration()
        self._ws: Any = None
        self._task: asyncio.Task | None = None
        self._joined = asyncio.Event()
        self.error: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, join_within: float = 10) -> None:
        self._task = asyncio.create_task(self._run(), name=f"media-bot-{self.meeting_id}")
        try:
            async with asyncio.timeout(join_within):
                await self._joined.wait()
        except TimeoutError:
            await self.stop()
            raise RuntimeError(self.error or "the media bot could not join the room") from None

    async def stop(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.send(json.dumps({"type": "leave"}))
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for peer in list(self.peers.values()):
            await peer.pc.close()
        self.peers.clear()

    def subscribe(self, consumer: TrackConsumer) -> None:
        """`consumer(peer, track)` for every track, those already there and those to come."""
        self.consumers.append(consumer)
        for peer, track in self.tracks:
            consumer(peer, self.relay.subscribe(track))

    def unsubscribe(self, consumer: TrackConsumer) -> None:
        with contextlib.suppress(ValueError):
            self.consumers.remove(consumer)

    # -- signaling -------------------------------------------------------------------------

    async def _run(self) -> None:
        url = f"{self.url}?meeting_id={self.meeting_id}&token={self.token}"
        try:
            async with websockets.connect(url, max_size=2**20) as ws:
                self._ws = ws
                async for raw in ws:
                    try:
                        await self._handle(json.loads(raw))
                    except Exception:  # one bad message costs that message, not the bot
                        log.exception("media bot of meeting %s: message failed", self.meeting_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.error = f"signaling connection failed: {exc}"
            log.warning("media bot of meeting %s: %s", self.meeting_id, self.error)
        finally:
            self._ws = None

    async def _send(self, message: dict[str, Any]) -> None:
        if self._ws is not None:
            await self._ws.send(json.dumps(message))

    async def _handle(self, message: dict[str, Any]) -> None:
        kind, data = message.get("type"), message.get("data") or {}
        if kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "room-info":
            self.session_id = data["session_id"]
            self._ice = ice_configuration(data.get("ice_servers") or [])
            self._joined.set()
            for participant in data.get("participants", []):
                # A session that joined while the bot did is both announced (user-joined,
                # even before room-info) and listed: offer it once, or the answer to the
                # first offer would meet the second.
                if participant["session_id"] not in (self.session_id, *self.peers):
                    await self._offer(participant["session_id"], participant.get("user_id"))
        elif kind == "user-joined":
            if data["session_id"] not in self.peers:
                await self._offer(data["session_id"], data.get("user_id"))
        elif kind == "user-left":
            await self._drop(data.get("session_id", ""))
        elif kind == "answer":
            peer = self.peers.get(message.get("from_session", ""))
            if (
                peer is not None
                and data.get("sdp")
                and peer.pc.signalingState == "have-local-offer"
            ):
                await peer.pc.setRemoteDescription(
                    RTCSessionDescription(sdp=data["sdp"], type="answer")
                )
        elif kind == "ice-candidate":
            peer = self.peers.get(message.get("from_session", ""))
            if peer is not None and data.get("candidate"):
                candidate = candidate_from_sdp(data["candidate"].removeprefix("candidate:"))
                candidate.sdpMid = data.get("sdpMid")
                candidate.sdpMLineIndex = data.get("sdpMLineIndex")
                with contextlib.suppress(Exception):
                    await peer.pc.addIceCandidate(candidate)
        elif kind == "error":
            log.info("media bot of meeting %s: server says %s", self.meeting_id, data)

    async def _drop(self, session_id: str) -> None:
        """Close the connection to a session and forget its tracks (new consumers skip them)."""
        peer = self.peers.pop(session_id, None)
        if peer is not None:
            self.tracks = [(p, track) for p, track in self.tracks if p is not peer]
            await peer.pc.close()

    async def _offer(self, session_id: str, user_id: int | None) -> None:
        await self._drop(session_id)  # a rejoin gets a fresh connection
        pc = RTCPeerConnection(self._ice)
        peer = Peer(session_id, user_id, pc)
        self.peers[session_id] = peer
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")

        @pc.on("track")
        def on_track(track: Any) -> None:
            peer.kinds.add(track.kind)
            self.tracks.append((peer, track))
            for consumer in list(self.consumers):
                consumer(peer, self.relay.subscribe(track))

        await pc.setLocalDescription(await pc.createOffer())
        await self._send(
            {
                "type": "offer",
                "to": session_id,
                "data": {"type": "offer", "sdp": pc.localDescription.sdp},
            }
        )
        log.info("media bot of meeting %s offered session %s", self.meeting_id, session_id)
