"""A mesh call of two SDK participants through a real server, recorded by its media bot."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from platform_client.mesh import MeshCall, RemotePeer

from tests.conftest import PatternTrack, ToneTrack


class Received:
    """An `on_track` handler that keeps what a participant hears and counts what it sees."""

    def __init__(self) -> None:
        self.audio: list[np.ndarray] = []
        self.video_frames = 0
        self.tasks: list[asyncio.Task] = []
        self.three_seconds = asyncio.Event()  # of audio, 20 ms a frame

    def __call__(self, peer: RemotePeer, track: MediaStreamTrack) -> None:
        self.tasks.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.video_frames += 1
                    continue
                samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))
                self.audio.append(samples[:, 0].astype(np.float64))
                if len(self.audio) >= 150:
                    self.three_seconds.set()

    def samples(self) -> np.ndarray:
        return np.concatenate(self.audio[-100:])  # the last two seconds

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()


async def test_two_sdk_participants_call_each_other_and_the_server_records_them(
    start_server: Any,
    call_env: dict,
    connect: Any,
    make_media: Any,
    tmp_path: Path,
    tone_of: Any,
    audio_of: Any,
) -> None:
    server = start_server(**call_env)
    ada = await connect(server, "ada")
    bob = await connect(server, "bob")
    meeting = await ada.meetings.create("mesh call", settings={"enable_recording": True})
    meeting_id = meeting["meeting_id"]
    joined = await bob.meetings.join(meeting_id)

    # ada sends generated tracks, bob a file through aiortc's MediaPlayer.
    clip = make_media("bob.mp4", seconds=30.0, tone=1000.0)
    heard_by_ada, heard_by_bob = Received(), Received()
    ada_call = MeshCall(
        ada.signaling(meeting_id),
        tracks=[ToneTrack(440.0), PatternTrack((200, 30, 30))],
        on_track=heard_by_ada,
    )
    bob_call = MeshCall(
        bob.signaling(meeting_id),
        tracks=MeshCall.play(str(clip)),
        ice_servers=joined["ice_servers"],
        on_track=heard_by_bob,
    )
    try:
        await ada_call.start()
        recording = await ada.recording.start(meeting_id)  # the media bot joins after ada
        await bob_call.start()  # bob arrives last: he offers to ada and to the bot
        async with asyncio.timeout(60):
            await ada_call.wait_connected(2)  # bob and the media bot
            await bob_call.wait_connected(2)
            both = {"audio", "video"}
            await ada_call.wait_connected(1, kinds=both)
            await bob_call.wait_connected(1, kinds=both)
            await heard_by_ada.three_seconds.wait()
            await heard_by_bob.three_seconds.wait()
        assert heard_by_ada.video_frames > 10 and heard_by_bob.video_frames > 10
        assert tone_of(heard_by_ada.samples(), 48000, 1000.0) > 20  # ada hears bob's file
        assert tone_of(heard_by_bob.samples(), 48000, 440.0) > 20  # bob hears ada's tone
        # The media bot records both from when it has their media: give it two seconds more.
        for _ in range(300):
            peers = (await ada.request("GET", f"/webrtc/room/{meeting_id}/peers"))["peers"]
            if len({p["user_id"] for p in peers if p["status"] == "connected"}) == 2:
                break
            await asyncio.sleep(0.1)
        assert {p["user_id"] for p in peers if p["status"] == "connected"} == {
            ada.user["user_id"],
            bob.user["user_id"],
        }
        await asyncio.sleep(2)
        await ada.recording.stop(recording["recording_id"])
    finally:
        heard_by_ada.stop()
        heard_by_bob.stop()
        await bob_call.close()
        await ada_call.close()

    done = await ada.recording.wait(recording["recording_id"], within=120)
    assert done["status"] == "completed", done.get("error")
    path = tmp_path / "call.mp4"
    await bob.recording.download(recording["recording_id"], to=path)
    with av.open(str(path)) as container:
        assert container.streams.video and container.streams.audio
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 25
    audio = audio_of(path)
    assert tone_of(audio, 48000, 440.0) > 20
    assert tone_of(audio, 48000, 1000.0) > 20


async def test_offers_that_cross_are_settled_by_perfect_negotiation(
    start_server: Any, call_env: dict, connect: Any
) -> None:
    server = start_server(**call_env)
    ada = await connect(server, "ada")
    bob = await connect(server, "bob")
    meeting_id = (await ada.meetings.create("glare"))["meeting_id"]
    await bob.meetings.join(meeting_id)
    calls = [
        MeshCall(ada.signaling(meeting_id), tracks=[ToneTrack(440.0)]),
        MeshCall(bob.signaling(meeting_id), tracks=[ToneTrack(1000.0)]),
    ]
    try:
        for call in calls:
            await call.start()
        async with asyncio.timeout(30):
            for call in calls:
                await call.wait_connected(1, kinds={"audio"})
        ada_peer = calls[0].peers[calls[1].room.session_id]
        bob_peer = calls[1].peers[calls[0].room.session_id]
        assert ada_peer.polite != bob_peer.polite
        assert ada_peer.glare == bob_peer.glare == 0  # the newcomer offered, alone

        # Both offer at the same moment: each sees the other's offer cross its own.
        await asyncio.gather(
            calls[0].renegotiate(ada_peer.session_id), calls[1].renegotiate(bob_peer.session_id)
        )
        async with asyncio.timeout(30):
            for call in calls:
                await call.wait_connected(1, kinds={"audio"})
        assert ada_peer.glare == bob_peer.glare == 1
        # The polite side took the other's offer (a third connection), the impolite one kept
        # its own (the second), and neither waited for the unanswered-offer fallback.
        polite, impolite = (ada_peer, bob_peer) if ada_peer.polite else (bob_peer, ada_peer)
        assert (polite.negotiations, impolite.negotiations) == (3, 2)
        assert impolite.ignored_offer is None
    finally:
        for call in calls:
            await call.close()
