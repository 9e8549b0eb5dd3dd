"""Shared fixtures: apps on a fresh SQLite file or PostgreSQL database, Redis, real servers.

PLATFORM_TEST_SERVICES=required (set by .ci/run) turns a missing PostgreSQL or Redis into a
failure; elsewhere the tests that need one skip and say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
import websockets
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from kernel.api import hookimpl
from kernel.app import create_app

POSTGRES_URL = os.environ.get("PLATFORM_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("PLATFORM_TEST_REDIS", "redis://127.0.0.1:6379/9")
SERVICES_REQUIRED = os.environ.get("PLATFORM_TEST_SERVICES") == "required"
REPO = Path(__file__).resolve().parent.parent
PLATFORM_BIN = str(Path(sys.executable).parent / "platform")


def service_missing(name: str, reason: str) -> None:
    message = f"{name} not reachable ({reason})"
    if SERVICES_REQUIRED:
        pytest.fail(f"{message}; PLATFORM_TEST_SERVICES=required", pytrace=False)
    pytest.skip(f"{message}; set up {name} or PLATFORM_TEST_SERVICES=required to run this")


@pytest.fixture
def require_service() -> Callable[[str, str], None]:
    """`require_service(name, reason)`: skip, or fail under PLATFORM_TEST_SERVICES=required."""
    return service_missing


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
        return True
    return False


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A Redis database emptied before and after the test."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        service_missing("Redis", str(exc))
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped after the test."""
    import asyncpg

    name = f"platform_test_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{POSTGRES_URL}/postgres", timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        service_missing("PostgreSQL", str(exc))
    yield f"{POSTGRES_URL}/{name}"
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def base_settings(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Settings of a kernel-only app (no plugins) in a private data dir."""
    settings: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "log_level": "WARNING",
        "plugins": {"enabled": [], "disabled": [], "skip_broken": False},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(settings.get(key), dict):
            settings[key] = settings[key] | value
        else:
            settings[key] = value
    return settings


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """`settings_for(**overrides)`: kernel-only settings in this test's data dir."""
    return lambda **overrides: base_settings(tmp_path, **overrides)


@pytest.fixture
def make_client(tmp_path: Path) -> Callable[..., Any]:
    """`async with make_client(extra_plugins=[...], **overrides) as client:` a started app.

    Keyword overrides are settings (`plugins={"enabled": [...]}` selects installed plugins);
    `extra_plugins` are plugin objects registered directly.
    """

    @contextlib.asynccontextmanager
    async def factory(
        extra_plugins: list[Any] | None = None, **overrides: Any
    ) -> AsyncIterator[Any]:
        app = create_app(base_settings(tmp_path, **overrides), plugins=extra_plugins)
        async with app.test_app() as test_app:
            client = test_app.test_client()
            client.app = app
            yield client

    return factory


@pytest.fixture(params=["sqlite", "postgres"])
def db_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Run a test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("postgres_url")}


@pytest.fixture
async def client(make_client: Callable[..., Any]) -> AsyncIterator[Any]:
    async with make_client() as c:
        yield c


# -- real servers -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A `platform serve` process on a free port (or `platform worker`), stopped by the fixture."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path, command: str = "serve") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.command = command
        self._log_handle = log.open("w")
        args = ["serve", "--port", str(self.port)] if command == "serve" else [command]
        self.proc = subprocess.Popen(
            [PLATFORM_BIN, *args],
            cwd=cwd,
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        if self.command == "worker":  # no HTTP: it says so once it takes work
            return "slots for" in self.log.read_text()
        try:
            return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.command} exited: {self.log.read_text()[-3000:]}")
            if self.ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.command} not ready: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log_handle.close()


def server_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")}
    env.update(
        {
            "PLATFORM_DATA_DIR": str(tmp_path / "data"),
            "PLATFORM_LOG_LEVEL": "INFO",
            "PLATFORM_PLUGINS__ENABLED": "[]",
        }
    )
    env.update(variables)
    return env


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(wait: bool = True, command: str = "serve", **variables: str) -> Server:
        """`start(**env)` a server; `start(command="worker", **env)` a worker node."""
        server = Server(
            server_env(tmp_path, **variables),
            tmp_path,
            tmp_path / f"server{len(servers)}.log",
            command,
        )
        servers.append(server)
        if wait:
            server.wait_ready()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run `platform ARGS` in this test's directory with a kernel-only environment."""

    def run(*args: str, timeout: float = 120, **variables: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [PLATFORM_BIN, *args],
            cwd=tmp_path,
            env=server_env(tmp_path, **variables),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    return run


class EventRecorder:
    """A plugin object that records every published event at the on_event hook."""

    plugin_name = "recorder"

    def __init__(self) -> None:
        self.events: list[Any] = []

    @hookimpl
    def on_event(self, event: Any) -> None:
        self.events.append(event)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [event.data for event in self.events if event.name == name]


@pytest.fixture
def recorder() -> EventRecorder:
    """Pass it as `make_client(extra_plugins=[recorder])` to see what an app published."""
    return EventRecorder()


# Users are made directly with a fixed hash: argon2 per user would make many-user tests slow.
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$placeholder$placeholder"


class People:
    """Users of one test: `await people.add("ann")` → (user, auth headers)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.platform = client.app.extensions["platform"]

    async def add(self, name: str, admin: bool = False) -> tuple[Any, dict[str, str]]:
        from kernel.auth.models import Role, User

        user = await User.create(
            username=name,
            email=f"{name}@example.com",
            password_hash=PASSWORD_HASH,
            role=Role.ADMIN if admin else Role.USER,
        )
        token, _ = self.platform.tokens.issue_access(user.id, str(user.role), "test")
        return user, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def people_of() -> type[People]:
    """`people_of(client)`: make users with tokens directly in that client's database."""
    return People


# Real media written with PyAV: muxer, video encoder and audio encoder for each file suffix.
MEDIA_CODECS: dict[str, tuple[str, str | None, str]] = {
    ".mp4": ("mp4", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "aac"),
    ".webm": ("webm", "libvpx", "libopus"),
    ".ogg": ("ogg", None, "libopus"),
    ".mp3": ("mp3", None, "libmp3lame"),
    ".wav": ("wav", None, "pcm_s16le"),
    ".flac": ("flac", None, "flac"),
    ".m4a": ("ipod", None, "aac"),
}
FAST_ENCODING = {"libx264": {"preset": "ultrafast"}, "libvpx": {"deadline": "realtime"}}


@pytest.fixture
def make_media(tmp_path: Path) -> Callable[..., Path]:
    """Write a real clip into tmp_path: a moving test pattern and a stereo sine tone.

    The muxer and codecs follow the name's suffix (or `container`, a suffix such as ".mp4"),
    so a file can be written as MP4 under any name. Audio-only containers ignore `video`.
    """
    import av
    import numpy as np

    def make(
        name: str = "clip.mp4",
        *,
        seconds: float = 2.0,
        width: int = 320,
        height: int = 240,
        fps: int = 25,
        tone: float = 440.0,
        video: bool = True,
        audio: bool = True,
        container: str | None = None,
    ) -> Path:
        path = tmp_path / name
        muxer, video_codec, audio_codec = MEDIA_CODECS[container or path.suffix.lower()]
        with av.open(str(path), "w", format=muxer) as output:
            streams: list[Any] = []
            if video and video_codec:
                vstream = output.add_stream(
                    video_codec, rate=fps, options=FAST_ENCODING.get(video_codec, {})
                )
                vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
                ramp = np.linspace(0, 255, width, dtype=np.uint8)
                base = np.dstack([np.tile(ramp, (height, 1))] * 3)
                bar = max(width // 16, 2)
                for index in range(round(seconds * fps)):
                    picture = base.copy()
                    left = index * 4 % (width - bar)
                    picture[:, left : left + bar] = (255, 64, 0)
                    frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                    frame.pts = index
                    streams.append(vstream.encode(frame))
                streams.append(vstream.encode(None))
            if audio:
                astream = output.add_stream(audio_codec, rate=48000, layout="stereo")
                context = astream.codec_context
                resampler = av.AudioResampler(
                    format=context.format,
                    layout="stereo",
                    rate=48000,
                    frame_size=context.frame_size or 1024,
                )
                samples = np.arange(round(seconds * 48000)) / 48000
                wave = (0.5 * np.sin(2 * np.pi * tone * samples)).astype(np.float32)
                source = av.AudioFrame.from_ndarray(np.vstack([wave, wave]), "fltp", "stereo")
                source.sample_rate, source.pts = 48000, 0
                for frame in [*resampler.resample(source), *resampler.resample(None)]:
                    streams.append(astream.encode(frame))
                streams.append(astream.encode(None))
            for packets in streams:
                output.mux(packets)
        return path

    return make


# -- real calls: aiortc participants speaking /ws/signaling (recording, streaming, webrtc) ------
# Each answers the server's offers (the media bot) with a video pattern of its own colour and a
# sine tone of its own frequency, as a browser in a mesh call would.

CALL_PLUGINS = '["users", "meetings", "signaling", "media", "webrtc", "recording", "streaming"]'
CALL_RATE = 48000


class ToneTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self.samples = 0
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        self.started = self.started or time.time()
        wait = self.started + self.samples / CALL_RATE - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(960) + self.samples) / CALL_RATE
        pcm = (np.sin(2 * np.pi * self.frequency * t) * 8000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = (
            CALL_RATE,
            self.samples,
            Fraction(1, CALL_RATE),
        )
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
        self.session_id: str | None = None
        self.task: asyncio.Task | None = None

    def tracks(self) -> list[MediaStreamTrack]:
        """What this device sends to each peer (override for other media)."""
        return [ToneTrack(self.tone), PatternTrack(self.colour)]

    async def start(self) -> None:
        self.ws = await websockets.connect(self.url)
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.joined.wait(), 10)

    async def _run(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                message = json.loads(raw)
                if message["type"] == "room-info":
                    self.session_id = message["data"]["session_id"]
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
        for track in self.tracks():
            pc.addTrack(track)
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
def call_env() -> dict[str, str]:
    """Environment of a real server with everything a recorded or streamed call needs."""
    return {"PLATFORM_PLUGINS__ENABLED": CALL_PLUGINS, "PLATFORM_RATELIMIT__ENABLED": "false"}


@pytest.fixture
def call_on() -> type[Meeting]:
    """`call_on(server.url)`: accounts, a meeting and aiortc participants on a real server."""
    return Meeting


def tone_level(samples: np.ndarray, rate: int, frequency: float) -> float:
    """The strength of `frequency` in `samples` relative to the spectrum's median."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = spectrum[(freqs > frequency - 10) & (freqs < frequency + 10)]
    return float(band.max() / (np.median(spectrum) + 1e-9))


@pytest.fixture
def tone_of() -> Any:
    """`tone_of(samples, rate, frequency)`: how strongly a tone stands out of the spectrum."""
    return tone_level


def mono_samples(path: Path) -> np.ndarray:
    """The first audio stream of a media file, decoded to 48 kHz mono floats."""
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=CALL_RATE)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
    return np.concatenate(chunks).astype(np.float64)


@pytest.fixture
def audio_of() -> Callable[[Path], np.ndarray]:
    """`audio_of(path)`: a file's sound as 48 kHz mono samples."""
    return mono_samples
