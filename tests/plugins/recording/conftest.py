"""Real meeting participants for recording tests: aiortc clients speaking /ws/signaling.

Each client answers the server's offers (the media bot) with a generated video pattern of its
own colour and a sine tone of its own frequency, as a browser in a mesh call would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import av
import httpx
import numpy as np
import pytest
import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

PLUGINS = '["users", "meetings", "signaling", "media", "webrtc", "recording"]'
RATE = 48000


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self.samples = 0
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        self.started = self.started or time.time()
        wait = self.started + self.samples / RATE - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(960) + self.samples) / RATE
        pcm = (np.sin(2 * np.pi * self.frequency * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self.samples, Fraction(1, RATE)
        self.samples += 960
        return frame


class PatternTrack(VideoStreamTrack):
    def __init__(self, colour: tuple[int, int, int]) -> None:
        super().__init__()
        self.colour = colour

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = np.empty((240, 320, 3), dtype=np.uint8)
        image[:] = self.colour
        image[:, (pts // 3000) % 320] = 255  # a moving line: frames differ
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class MeshClient:
    """A participant's device: joins the room, answers offers with its tracks."""

    def __init__(self, url: str, meeting_id: int, token: str, tone: float, colour: tuple) -> None:
        self.url = f"{url}?meeting_id={meeting_id}&token={token}"
        self.tone, self.colour = tone, colour
        self.pcs: list[RTCPeerConnection] = []
        self.offers = 0
        self.joined = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        self.ws = await websockets.connect(self.url)
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.joined.wait(), 10)

    async def _run(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "room-info":
                    self.joined.set()
                elif message["type"] == "ping":
                    await self.ws.send(json.dumps({"type": "pong"}))
                elif message["type"] == "offer":
                    await self._answer(message)

    async def _answer(self, message: dict) -> None:
        self.offers += 1
        pc = RTCPeerConnection()
        self.pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(**message["data"]))
        pc.addTrack(ToneTrack(self.tone))
        pc.addTrack(PatternTrack(self.colour))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = {"type": "answer", "sdp": pc.localDescription.sdp}
        await self.ws.send(
            json.dumps({"type": "answer", "to": message["from_session"], "data": answer})
        )

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        for pc in self.pcs:
            await pc.close()


class Meeting:
    """Accounts and a meeting on a real server, through its REST API."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = httpx.AsyncClient(base_url=base, timeout=30)
        self.tokens: dict[str, str] = {}
        self.meeting_id = 0

    async def person(self, name: str) -> dict[str, str]:
        account = {"username": name, "email": f"{name}@example.com", "password": "secret-pass"}
        assert (await self.http.post("/api/v1/auth/register", json=account)).status_code == 201
        login = await self.http.post(
            "/api/v1/auth/login", json={"username": name, "password": "secret-pass"}
        )
        self.tokens[name] = login.json()["data"]["token"]
        return self.headers(name)

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}

    async def create(self, host: str) -> int:
        start = datetime.now(UTC) + timedelta(minutes=1)
        payload = {
            "title": "recorded call",
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(hours=1)).isoformat(),
            "max_participants": 10,
            "settings": {"enable_recording": True},
        }
        response = await self.http.post(
            "/api/v1/meetings", headers=self.headers(host), json=payload
        )
        self.meeting_id = response.json()["data"]["meeting_id"]
        return self.meeting_id

    def client(self, name: str, tone: float, colour: tuple) -> MeshClient:
        ws_url = self.base.replace("http://", "ws://") + "/ws/signaling"
        return MeshClient(ws_url, self.meeting_id, self.tokens[name], tone, colour)

    async def wait_recording(self, name: str, recording_id: int, *states: str) -> dict:
        for _ in range(1200):
            response = await self.http.get(
                f"/api/v1/recording/{recording_id}", headers=self.headers(name)
            )
            data = response.json()["data"]
            if data["status"] in states:
                return data
            await asyncio.sleep(0.1)
        raise AssertionError(f"recording {recording_id} stayed {data['status']}")


@pytest.fixture
def plugins_env() -> dict[str, str]:
    return {"PLATFORM_PLUGINS__ENABLED": PLUGINS, "PLATFORM_RATELIMIT__ENABLED": "false"}


def tone_level(samples: np.ndarray, rate: int, frequency: float) -> float:
    """The strength of `frequency` in `samples` relative to the spectrum's median."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = spectrum[(freqs > frequency - 10) & (freqs < frequency + 10)]
    return float(band.max() / (np.median(spectrum) + 1e-9))


@pytest.fixture
def tone_of() -> Any:
    return tone_level
