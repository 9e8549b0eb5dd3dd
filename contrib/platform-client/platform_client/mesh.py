"""A mesh WebRTC call with aiortc (the `media` extra): one RTCPeerConnection per remote session.

Who offers: a session that arrives offers to everyone already in the room; those already there
wait for its offer. Offers can still cross (both sides renegotiate at once, or a peer such as
the server's media bot that offers to every newcomer itself): that is resolved by "perfect
negotiation". Of two sessions the one with the greater session id is polite: it drops its own
offer and answers the other's; the impolite one ignores the crossing offer and waits for its
answer. A peer that never answers (the media bot answers nobody's offers) would then leave
the impolite side waiting, so after `answer_timeout` seconds without an answer the ignored
offer is taken after all.

aiortc has no rollback and no ICE restart, so every negotiation starts a fresh
RTCPeerConnection for that peer; a local track is sent to each peer through a MediaRelay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaPlayer, MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

from platform_client.signaling import SignalingClient

log = logging.getLogger("platform_client.mesh")

TrackHandler = Callable[["RemotePeer", MediaStreamTrack], Any]


def ice_configuration(servers: Sequence[dict[str, Any]]) -> RTCConfiguration:
    """RTCConfiguration from the `ice_servers` of a join response or room-info."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=server["urls"],
                username=server.get("username"),
                credential=server.get("credential"),
            )
            for server in servers
            if server.get("urls")
        ]
    )


@dataclass
class RemotePeer:
    """Another session of the room and our connection to it."""

    session_id: str
    user_id: int | None
    polite: bool
    pc: RTCPeerConnection | None = None
    making_offer: bool = False
    ignored_offer: str | None = None  # a crossing offer we (impolite) did not take yet
    tracks: list[MediaStreamTrack] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    negotiations: int = 0
    glare: int = 0  # offers that crossed ours
    _fallback: asyncio.Task | None = None

    @property
    def kinds(self) -> set[str]:
        return {track.kind for track in self.tracks}


class MeshCall:
    """Send local tracks to every other session of a room and receive theirs.

    ```
    room = client.signaling(meeting_id)
    call = MeshCall(room, tracks=MeshCall.play("clip.mp4"), on_track=handle)
    await call.start()
    ...
    await call.close()
    ```
    `on_track(peer, track)` gets each remote track (an aiortc MediaStreamTrack to `recv()`
    from). Without it remote tracks are read and dropped, so their frames do not pile up.
    """

    def __init__(
        self,
        room: SignalingClient,
        *,
        tracks: Sequence[MediaStreamTrack] = (),
        ice_servers: Sequence[dict[str, Any]] | None = None,
        on_track: TrackHandler | None = None,
        answer_timeout: float = 3.0,
    ) -> None:
        self.room = room
        self.local_tracks = list(tracks)
        self._ice_servers = ice_servers
        self.on_track = on_track
        self.answer_timeout = answer_timeout
        self.peers: dict[str, RemotePeer] = {}
        self.relay = MediaRelay()
        self._task: asyncio.Task | None = None
        self._drains: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()  # messages of all peers are handled one at a time
        self._sources: dict[MediaStreamTrack, MediaStreamTrack] = {}

    @staticmethod
    def play(path: str, **options: Any) -> list[MediaStreamTrack]:
        """The audio and video tracks of a media file (aiortc MediaPlayer), in real time, once.

        Not looped: aiortc's MediaPlayer(loop=True) starts the video timestamps again from zero,
        which the VP8 encoder refuses; play a file as long as the call needs."""
        player = MediaPlayer(path, **options)
        return [t for t in (player.audio, player.video) if t is not None]

    @property
    def ice(self) -> RTCConfiguration:
        servers = self._ice_servers
        if servers is None:
            servers = self.room.room.get("ice_servers") or []
        return ice_configuration(servers)

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Join the room (if the signaling client is not connected yet) and offer to everyone."""
        if self.room.session_id is None:
            await self.room.connect()
        self._task = asyncio.create_task(self._run(), name="mesh-call")
        async with self._lock:
            for participant in self.room.room.get("participants", []):
                if participant["session_id"] != self.room.session_id:
                    peer = self._peer(participant["session_id"], participant.get("user_id"))
                    await self._offer(peer)

    async def close(self, leave: bool = True) -> None:
        """Hang up: every connection closed, the local tracks stopped, the room left."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for peer in list(self.peers.values()):
            await self._drop(peer)
        for task in list(self._drains):
            task.cancel()
        for track in self.local_tracks:
            track.stop()
        await self.room.close(leave=leave)

    async def wait_connected(self, count: int, kinds: set[str] | None = None) -> None:
        """Until `count` peers are connected (and, with `kinds`, sent us those kinds)."""
        while True:
            ready = [
                p
                for p in self.peers.values()
                if p.connected.is_set() and (kinds is None or kinds <= p.kinds)
            ]
            if len(ready) >= count:
                return
            await asyncio.sleep(0.05)

    async def renegotiate(self, session_id: str) -> None:
        """Offer to a peer again (a fresh connection): what an app does to change its media."""
        async with self._lock:
            await self._offer(self.peers[session_id])

    # -- signaling -------------------------------------------------------------------------

    async def _run(self) -> None:
        async for message in self.room:
            try:
                async with self._lock:
                    await self._handle(message)
            except Exception:  # one bad message or peer must not end the call
                log.exception("mesh call: %s failed", message.get("type"))

    async def _handle(self, message: dict[str, Any]) -> None:
        kind, data = message["type"], message.get("data") or {}
        sender = message.get("from_session")
        if kind == "user-joined":
            # The newcomer offers; we get ready for it.
            self._peer(data["session_id"], data.get("user_id"))
        elif kind == "user-left":
            peer = self.peers.pop(data.get("session_id", ""), None)
            if peer is not None:
                await self._drop(peer)
        elif kind == "room-info" and not data.get("resumed"):
            # After a reconnect that could not resume, we are a newcomer again.
            for participant in data.get("participants", []):
                if participant["session_id"] != self.room.session_id:
                    await self._offer(self._peer(participant["session_id"], None))
        elif kind == "offer" and sender:
            await self._on_offer(self._peer(sender, message.get("from")), data["sdp"])
        elif kind == "answer" and sender in self.peers:
            await self._on_answer(self.peers[sender], data["sdp"])
        elif kind == "ice-candidate" and sender in self.peers:
            await self._on_candidate(self.peers[sender], data)

    def _peer(self, session_id: str, user_id: int | None) -> RemotePeer:
        peer = self.peers.get(session_id)
        if peer is None:
            polite = (self.room.session_id or "") > session_id
            peer = RemotePeer(session_id, user_id, polite)
            self.peers[session_id] = peer
        if user_id is not None:
            peer.user_id = user_id
        return peer

    # -- negotiation -----------------------------------------------------------------------

    async def _fresh(self, peer: RemotePeer) -> RTCPeerConnection:
        """Replace the peer's connection by a new one (aiortc's way to roll back)."""
        if peer.pc is not None:
            await _close(peer.pc)
        peer.connected.clear()
        peer.tracks.clear()
        pc = RTCPeerConnection(self.ice)
        peer.pc = pc
        peer.negotiations += 1

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if pc is not peer.pc:
                return
            peer.tracks.append(track)
            if self.on_track is not None:
                self.on_track(peer, track)
            else:
                task = asyncio.create_task(_drain(track))
                self._drains.add(task)
                task.add_done_callback(self._drains.discard)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc is peer.pc and pc.connectionState == "connected":
                peer.connected.set()

        return pc

    def _send_tracks(self, pc: RTCPeerConnection) -> None:
        for track in self.local_tracks:
            if track not in self._sources:
                self._sources[track] = _Yuv420p(track) if track.kind == "video" else track
            pc.addTrack(self.relay.subscribe(self._sources[track]))

    async def _offer(self, peer: RemotePeer) -> None:
        peer.making_offer = True
        try:
            pc = await self._fresh(peer)
            self._send_tracks(pc)
            if not self.local_tracks:  # receive-only: still ask for the peer's media
                pc.addTransceiver("audio", direction="recvonly")
                pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())  # gathers ICE candidates
            await self.room.offer(peer.session_id, pc.localDescription.sdp)
        finally:
            peer.making_offer = False
        if peer._fallback is not None:
            peer._fallback.cancel()
        peer._fallback = asyncio.create_task(self._take_ignored_offer(peer, pc))

    async def _on_offer(self, peer: RemotePeer, sdp: str) -> None:
        crossing = peer.making_offer or (peer.pc is not None and peer.pc.signalingState != "stable")
        if crossing:
            peer.glare += 1
            if not peer.polite:
                peer.ignored_offer = sdp  # ours wins, unless it goes unanswered
                return
        await self._answer(peer, sdp)

    async def _answer(self, peer: RemotePeer, sdp: str) -> None:
        peer.ignored_offer = None
        if peer._fallback is not None and peer._fallback is not asyncio.current_task():
            peer._fallback.cancel()
        peer._fallback = None
        pc = await self._fresh(peer)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        self._send_tracks(pc)  # after the offer: the tracks take its transceivers
        await pc.setLocalDescription(await pc.createAnswer())
        await self.room.answer(peer.session_id, pc.localDescription.sdp)

    async def _on_answer(self, peer: RemotePeer, sdp: str) -> None:
        if peer.pc is None or peer.pc.signalingState != "have-local-offer":
            return  # an answer to an offer we gave up
        peer.ignored_offer = None
        await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))

    async def _take_ignored_offer(self, peer: RemotePeer, pc: RTCPeerConnection) -> None:
        await asyncio.sleep(self.answer_timeout)
        async with self._lock:
            if peer.pc is pc and pc.signalingState == "have-local-offer" and peer.ignored_offer:
                log.info("mesh call: %s never answered; taking its offer", peer.session_id)
                await self._answer(peer, peer.ignored_offer)

    async def _on_candidate(self, peer: RemotePeer, data: dict[str, Any]) -> None:
        # aiortc puts its own candidates into the SDP; browsers trickle theirs.
        if peer.pc is None or not data.get("candidate"):
            return
        candidate = candidate_from_sdp(str(data["candidate"]).removeprefix("candidate:"))
        candidate.sdpMid = data.get("sdpMid")
        candidate.sdpMLineIndex = data.get("sdpMLineIndex")
        with contextlib.suppress(Exception):
            await peer.pc.addIceCandidate(candidate)

    async def _drop(self, peer: RemotePeer) -> None:
        if peer._fallback is not None:
            peer._fallback.cancel()
        if peer.pc is not None:
            await _close(peer.pc)
            peer.pc = None


async def _drain(track: MediaStreamTrack) -> None:
    with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
        while True:
            await track.recv()


class _Yuv420p(MediaStreamTrack):
    """A video track in the VP8/H.264 encoders' pixel format.

    The relay hands the same frame to every peer's encoder, each in its own thread; an encoder
    converts a frame of another format in place of use, and two converting one frame at once
    hang in FFmpeg. Converted once here, the encoders only read it."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.source = source

    async def recv(self) -> Any:
        frame = await self.source.recv()
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        return frame

    def stop(self) -> None:
        super().stop()
        self.source.stop()


async def _close(pc: RTCPeerConnection) -> None:
    # Shielded: a second close() awaits the first one's future, and cancelling that waiter
    # cancels the future under the first close (aiortc then fails to finish it).
    await asyncio.shield(pc.close())
