"""Recording benchmark: the server's CPU per participant while it records a real aiortc call.

Run from anywhere:  .venv/bin/python tests/bench/bench_recording.py [--participants 1,2,4]

Per N: a fresh `platform serve` (call plugins, one job worker, rate limits off) in a temp dir; N
users register and log in, the first creates a meeting with recording on; N aiortc participants
(tests/conftest.py's "real calls" clients, copied: 640x480 30 fps VP8 pattern, Opus tone) join
/ws/signaling from --client-procs processes: their encoding is not charged to the server, but
shares the machine (their CPU is shown). POST /api/v1/recording/start; once the bot's peers show
2N connected tracks and 3 s of warm-up: the server's CPU (utime+stime of /proc/<pid>/stat, all
threads) over --seconds, split by thread (named by `py-spy dump` if installed). Health: the stop's
latency (queued frames are encoded before it answers), the video fps and audio seconds in the
track files (copied at the stop), writer threads that died ("writing stopped" in the log), the
composed `duration` against the wall time; the composition's wall time (stop -> completed) and
its job process's CPU (the server's cutime+cstime). Summary: cores per participant, participants
a 2-core node could record (2 / cost) and the goal, <= 0.25 core per participant at 640x480.
Everything is stopped at the end, also on errors; tests/bench/conftest.py keeps pytest away.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np

PLATFORM_BIN = Path(sys.executable).parent / "platform"
HOST = "127.0.0.1"
PLUGINS = '["users","meetings","signaling","media","webrtc","recording"]'
RATE, FPS, NODE_CORES, GOAL = 48000, 30, 2, 0.25
TICK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


# -- participants (tests/conftest.py, "real calls"), run in client processes ---------------


def client_process(url: str, people: list, size: tuple, conn: Any, stop: Any) -> None:
    """N participants in one process: aiortc and websockets are imported here only."""
    import websockets
    from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

    class ToneTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self, frequency: float) -> None:
            super().__init__()
            self.frequency, self.samples, self.started = frequency, 0, 0.0

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

    class PatternTrack(VideoStreamTrack):  # 30 fps (VideoStreamTrack's clock)
        def __init__(self, colour: tuple[int, int, int], width: int, height: int) -> None:
            super().__init__()
            self.image = np.empty((height, width, 3), dtype=np.uint8)
            self.image[:] = colour

        async def recv(self) -> av.VideoFrame:
            pts, time_base = await self.next_timestamp()
            image = self.image.copy()
            image[:, (pts // 3000) % image.shape[1]] = 255  # a moving line: frames differ
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    pcs: list[Any] = []

    async def participant(token: str, tone: float, colour: tuple, joined: asyncio.Event) -> None:
        """conftest's MeshClient: joins the room, answers the bot's offers with its tracks."""
        async with websockets.connect(f"{url}&token={token}") as ws:
            async for raw in ws:
                message = json.loads(raw)
                if message["type"] == "room-info":
                    joined.set()
                elif message["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif message["type"] == "offer":
                    pcs.append(pc := RTCPeerConnection())
                    await pc.setRemoteDescription(RTCSessionDescription(**message["data"]))
                    pc.addTrack(ToneTrack(tone))
                    pc.addTrack(PatternTrack(colour, *size))
                    await pc.setLocalDescription(await pc.createAnswer())
                    answer = {"type": "answer", "sdp": pc.localDescription.sdp}
                    reply = {"type": "answer", "to": message["from_session"], "data": answer}
                    await ws.send(json.dumps(reply))

    async def participate() -> None:
        joined = [asyncio.Event() for _ in people]
        tasks = [
            asyncio.create_task(participant(*p, j)) for p, j in zip(people, joined, strict=True)
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(j.wait() for j in joined)), 20)
            conn.send(("joined", len(people)))
            await asyncio.to_thread(stop.wait)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for pc in pcs:
                await pc.close()

    try:
        asyncio.run(participate())
    except Exception as exc:
        conn.send(("error", repr(exc)))


# -- measuring ----------------------------------------------------------------------------


def cpu(pid: int, task: str = "") -> tuple[float, float]:
    """(utime+stime, cutime+cstime) in seconds of a process (or one thread); 0s once gone."""
    try:
        stat = Path(f"/proc/{pid}{task}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return (int(stat[11]) + int(stat[12])) / TICK, (int(stat[13]) + int(stat[14])) / TICK


def threads(pid: int) -> dict[int, float]:
    tids = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    return {tid: cpu(pid, f"/task/{tid}")[0] for tid in tids}


GROUPS = [
    (r"MainThread", "event loop (RTP, SRTP, ICE, relay, HTTP)"),
    (r"video-decoder", "aiortc VP8 decode threads"),
    (r"audio-decoder", "aiortc Opus decode threads"),
    (r"rec-.*-video", "recorder video (reformat + x264)"),
    (r"rec-.*-audio", "recorder audio (resample + PCM)"),
    (r"", "other Python threads"),
]


def thread_groups(pid: int) -> dict[int, str]:
    """Thread id -> group, from `py-spy dump` (threads without Python are native codec ones)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    try:
        argv = [spy, "dump", "--nonblocking", "-p", str(pid)]  # a pause would stall the call
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    names = dict(re.findall(r'^Thread (\d+) \(\w+\): "(.*)"', out, re.MULTILINE))
    groups = {int(t): next(g for p, g in GROUPS if re.match(p, n)) for t, n in names.items()}
    return groups and groups | {pid: GROUPS[0][1]}  # the main thread's id is the pid


def media_written(directory: Path) -> tuple[list[float], list[float]]:
    """Video frames per second, and audio seconds, of each track file (packets, not decoded)."""
    fps, audio = [], []
    for path in sorted(directory.glob("*.mk[va]")):
        with contextlib.suppress(av.FFmpegError, IndexError), av.open(str(path)) as container:
            stream = container.streams[0]
            pts = [p.pts for p in container.demux(stream) if p.pts is not None] or [0]
            span = float((max(pts) - min(pts)) * stream.time_base)
            if path.suffix == ".mka":
                audio.append(span + 0.02)
            elif span > 0:
                fps.append((len(pts) - 1) / span)
    return fps, audio


@dataclass
class Case:
    n: int
    error: str = ""
    window: float = 0.0
    server_cpu: float = 0.0
    clients_cpu: float = 0.0
    by_thread: dict[str, float] = field(default_factory=dict)
    fps: list[float] = field(default_factory=list)
    audio: list[float] = field(default_factory=list)  # seconds written per audio track
    dead_writers: int = 0
    wall: float = 0.0  # start asked -> stop answered
    stop_latency: float = 0.0
    compose_wall: float = 0.0
    compose_cpu: float = 0.0  # the job process (a reaped child)
    compose_server_cpu: float = 0.0
    recorded: float = 0.0

    @property
    def per_participant(self) -> float:
        return self.server_cpu / self.window / self.n if self.window else float("nan")


def api(client: httpx.Client, method: str, path: str, expect: int, **kwargs: Any) -> Any:
    response = client.request(method, path, **kwargs)
    if response.status_code != expect:
        raise BenchError(f"{method} {path}: {response.status_code} {response.text[:500]}")
    return response.json()["data"]


def wait_for(what: str, check: Any, timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every)
    raise BenchError(f"timed out after {timeout:g} s waiting for {what}")


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str, Any]:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")}
    env |= {"PLATFORM_DATA_DIR": str(data_dir), "PLATFORM_PLUGINS__ENABLED": PLUGINS}
    env |= {"PLATFORM_RATELIMIT__ENABLED": "false", "PLATFORM_JOBS__WORKERS": "1"}
    env |= {"PLATFORM_LOG_LEVEL": "WARNING"}
    data_dir.mkdir(parents=True)
    log = (data_dir.parent / "server.log").open("w")
    argv = [str(PLATFORM_BIN), "serve", "--host", HOST, "--port", str(port)]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, f"http://{HOST}:{port}", log


def run_case(case: Case, args: argparse.Namespace, workdir: Path) -> None:
    n, data_dir = case.n, workdir / f"n{case.n}" / "data"
    server, base, log = start_server(data_dir)
    ctx = multiprocessing.get_context("spawn")
    stop, procs, pipes = ctx.Event(), [], []
    http = httpx.Client(base_url=base, timeout=60, trust_env=False)
    try:

        def ready() -> bool:
            if server.poll() is not None:
                raise BenchError(f"the server exited, see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                return http.get("/readyz").status_code == 200
            return False

        wait_for("the server", ready, 60)
        tokens = []
        for i in range(n):
            account = {"username": f"rec{i}", "email": f"rec{i}@x.io", "password": "bench-pw-123"}
            api(http, "POST", "/api/v1/auth/register", 201, json=account)
            login = {k: account[k] for k in ("username", "password")}
            tokens.append(api(http, "POST", "/api/v1/auth/login", 200, json=login)["token"])
        host = {"Authorization": f"Bearer {tokens[0]}"}
        begin = datetime.now(UTC) + timedelta(minutes=1)
        meeting = {"title": "bench", "start_time": begin.isoformat(), "max_participants": 50}
        meeting |= {"end_time": (begin + timedelta(hours=1)).isoformat()}
        meeting["settings"] = {"enable_recording": True}
        meeting_id = api(http, "POST", "/api/v1/meetings", 201, headers=host, json=meeting)
        meeting_id = meeting_id["meeting_id"]
        url = f"{base.replace('http://', 'ws://')}/ws/signaling?meeting_id={meeting_id}"
        people = [(t, 300.0 + 150 * i, (40 * i % 256, 90, 200)) for i, t in enumerate(tokens)]
        for k in range(min(n, args.client_procs)):
            receiver, sender = ctx.Pipe(duplex=False)
            share = people[k :: args.client_procs]
            procs.append(ctx.Process(target=client_process, daemon=True,
                                     args=(url, share, (640, 480), sender, stop)))  # fmt: skip
            procs[-1].start()
            pipes.append(receiver)
        for receiver in pipes:
            if not receiver.poll(60):
                raise BenchError("a client process did not join within 60 s")
            if (message := receiver.recv())[0] != "joined":
                raise BenchError(f"a client process failed: {message[1]}")
        started = time.monotonic()
        body = {"meeting_id": meeting_id}
        recording_id = api(http, "POST", "/api/v1/recording/start", 201, headers=host, json=body)
        recording_id = recording_id["recording_id"]

        def connected() -> bool:
            peers = api(http, "GET", f"/api/v1/webrtc/room/{meeting_id}/peers", 200, headers=host)
            return sum(p["status"] == "connected" for p in peers["peers"]) >= 2 * n

        wait_for(f"{2 * n} connected tracks", connected, 60, 0.25)
        time.sleep(3)  # warm-up
        groups = thread_groups(server.pid)
        t0, th0, c0 = time.monotonic(), threads(server.pid), [cpu(p.pid)[0] for p in procs]
        s0 = cpu(server.pid)[0]
        time.sleep(args.seconds)
        t1, th1, c1 = time.monotonic(), threads(server.pid), [cpu(p.pid)[0] for p in procs]
        case.window, case.server_cpu = t1 - t0, cpu(server.pid)[0] - s0
        case.clients_cpu = sum(c1) - sum(c0)
        for tid, seconds in th1.items():
            group = groups.get(tid, "native threads (codec pools)" if groups else "all threads")
            case.by_thread[group] = case.by_thread.get(group, 0) + seconds - th0.get(tid, 0)
        own, children = cpu(server.pid)
        body = {"recording_id": recording_id}
        try:
            api(http, "POST", "/api/v1/recording/stop", 200, headers=host, json=body, timeout=120)
        except httpx.TimeoutException:
            raise BenchError("POST /recording/stop: no answer in 120 s (server hung)") from None
        stopped = time.monotonic()
        case.wall, case.stop_latency = stopped - started, stopped - t1
        tracks = next(data_dir.rglob(f"recording-{recording_id}"), None)
        with contextlib.suppress(OSError):  # the job deletes them once it is done
            if tracks is not None:
                shutil.copytree(tracks, workdir / f"n{n}" / "tracks")
        stop.set()  # the clients leave: the composition runs without their load

        def finished() -> dict | None:
            data = api(http, "GET", f"/api/v1/recording/{recording_id}", 200, headers=host)
            return data if data["status"] in ("completed", "failed") else None

        done = wait_for("the composition", finished, 600, 0.05)
        case.compose_wall = time.monotonic() - stopped
        if done["status"] != "completed":
            raise BenchError(f"recording {recording_id} failed: {done['error']}")
        time.sleep(0.2)  # the job process is reaped right after its result is stored
        own2, children2 = cpu(server.pid)
        case.compose_cpu, case.compose_server_cpu = children2 - children, own2 - own
        case.recorded = float(done["duration"] or 0)
    finally:
        stop.set()
        for proc in procs:
            proc.join(15)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        http.close()
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
        log.close()
        case.dead_writers = Path(log.name).read_text(errors="replace").count("writing stopped")
        copy = workdir / f"n{n}" / "tracks"  # else a hung stop left them in the data dir
        left = copy if copy.exists() else next(data_dir.rglob("recording-*"), copy)
        case.fps, case.audio = media_written(left)


# -- report -------------------------------------------------------------------------------


def span(values: list[float], fmt: str = ".1f") -> str:
    return f"{min(values):{fmt}}-{max(values):{fmt}}" if values else "n/a"


def report(cases: list[Case]) -> None:
    print("\n" + "=" * 100)
    heads = [("N", 3), ("server", 8), ("per part.", 10), ("clients", 9), ("video fps", 11)]
    heads += [("audio s", 11), ("dead", 5), ("recorded/wall", 16), ("stop", 7), ("compose", 9)]
    print("".join(f"{h:>{w}}" for h, w in [*heads, ("compose cpu", 14)]))
    for c in cases:
        if not c.window:
            print(f"{c.n:>3}  FAILED: {c.error}")
            continue
        row = f"{c.n:>3}{c.server_cpu / c.window:>8.3f}{c.per_participant:>10.3f}"
        row += f"{c.clients_cpu / c.window:>9.2f}{span(c.fps):>11}{span(c.audio):>11}"
        row += f"{c.dead_writers:>5}{f'{c.recorded:.2f}/{c.wall:.2f} s':>16}{c.stop_latency:>6.2f}s"
        row += f"{c.compose_wall:>8.2f}s{c.compose_cpu:>7.2f}+{c.compose_server_cpu:.2f} s"
        print(row if not c.error else row[:57] + "   (no stop, no composition)")
        if c.error:
            print(f"     FAILED after the measurement: {c.error}")
    print("server, per part(icipant), clients: cores (CPU s per s of recording); dead: writer")
    print("threads that stopped; compose cpu: the job process + the server, stop -> completed")
    for c in (c for c in cases if c.by_thread):
        parts = sorted(c.by_thread.items(), key=lambda kv: -kv[1])
        print(f"N={c.n} cores by thread: " + ", ".join(f"{k} {v / c.window:.3f}" for k, v in parts))
    measured = [c for c in cases if c.window]
    if not measured:
        return
    cost = measured[-1].per_participant
    print(f"\nat N={measured[-1].n}: {cost:.3f} core per participant -> one {NODE_CORES}-core "
          f"node records about {NODE_CORES / cost:.1f} participants in real time")  # fmt: skip
    if len(measured) > 1:
        slope, fixed = np.polyfit(
            [c.n for c in measured], [c.server_cpu / c.window for c in measured], 1
        )
        if slope > 0:
            print(f"linear fit: {fixed:.3f} core fixed + {slope:.3f} core per participant -> "
                  f"about {(NODE_CORES - fixed) / slope:.1f} participants")  # fmt: skip
    print("(the clients ran on this machine too: their encoding competed for the same 2 cores)")
    healthy = all(not c.error and not c.dead_writers for c in cases)
    verdict = "ok" if cost <= GOAL and healthy else "MISSED"
    why = "" if healthy else " (the recorder did not keep every track: see dead/FAILED)"
    print(f"goal <= {GOAL} core per participant at 640x480: {verdict}{why}")
    print("=" * 100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Server CPU per participant while recording.")
    parser.add_argument("--participants", default="1,2,4", help="comma-separated counts")
    parser.add_argument("--seconds", type=float, default=20, help="measured seconds per count")
    parser.add_argument("--client-procs", type=int, default=4, help="max client processes")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, tracks)")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.participants.split(",") if x.strip()]
    if not counts or min(counts) < 1 or args.seconds <= 0 or args.client_procs < 1:
        parser.error("--participants: counts >= 1; --seconds > 0; --client-procs >= 1")
    if not PLATFORM_BIN.exists():
        print(f"error: {PLATFORM_BIN} not found: run with the project's virtualenv python")
        return 2
    load = os.getloadavg()[0]
    print(f"recording benchmark: 640x480 {FPS} fps VP8 + Opus per participant, {args.seconds:g} s"
          f" measured; {os.cpu_count()} cores, load average {load:.2f} before")  # fmt: skip
    if load > 0.5:
        print("NOTE: the machine is busy: CPU seconds hold, real-time figures may suffer")
    workdir = Path(tempfile.mkdtemp(prefix="platform-bench-rec-"))
    cases = [Case(n) for n in counts]
    began = time.monotonic()
    try:
        for case in cases:
            try:
                run_case(case, args, workdir)
            except (BenchError, httpx.HTTPError) as exc:
                case.error = f"{type(exc).__name__}: {exc}"
            state = f"FAILED: {case.error}" if case.error else "done"
            print(f"  N={case.n}: {state} ({time.monotonic() - began:.0f} s so far)")
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(cases)
    return 1 if any(c.error for c in cases) else 0


if __name__ == "__main__":
    sys.exit(main())
