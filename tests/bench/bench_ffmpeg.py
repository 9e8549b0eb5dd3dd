"""FFmpeg plugin benchmark: transcode speed against Debian's ffmpeg CLI, and upload memory.

Run from anywhere:  .venv/bin/python tests/bench/bench_ffmpeg.py [--runs 3] [--skip-cli]

1. Clip (PyAV, temp dir): 30 s 1280x720 25 fps H.264 + 48 kHz stereo AAC sine in MP4; a gradient
   with a scrolling block texture and a moving bar, so x264 has detail and motion to work on.
2. Platform: `platform serve` (users, meetings, media, ffmpeg); register, log in, upload the clip;
   then the wall time of POST /api/v1/ffmpeg/transcode (mp4, libx264, 854x480, 1.5 Mb/s) until
   GET /api/v1/ffmpeg/job/{id}/status says completed (polled every 50 ms): queue, spawned job
   process, decode, scale, encode, storing and probing the output.
3. References: operations.transcode in this process (no server, job process or polling); the
   `ffmpeg` CLI (apt-get installed when missing) with the platform's settings: libx264 veryfast,
   ABR 1500k, bilinear scale to yuv420p (PyAV's reformat default), frame threads, automatic
   count (the platform sets thread_type=FRAME on its encoders), AAC 128k (its stereo default)
   48 kHz; and the CLI with its own defaults (frame threads, bicubic), no goal. Goal: CLI time
   / platform time >= 0.9. Medians of wall and CPU seconds (server plus reaped job processes;
   this process plus ffmpeg children) and of the CPU seconds all other processes used meanwhile
   (on a shared machine: above ~0.5 s the wall times are noisy).
4. Upload memory: a fresh server takes a 1 GiB multipart upload of plain text streamed from a
   generator; its peak RSS (VmHWM, first reset to the current RSS: login's argon2 peak would hide
   growth) before and after, and the throughput. Goal: the peak grows by less than 64 MiB.

Rate limits are disabled; servers bind 127.0.0.1 and are stopped at the end, also on errors.
This is a benchmark, not a test: tests/bench/conftest.py keeps pytest from collecting it.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent.parent
PLATFORM_BIN = Path(sys.executable).parent / "platform"
HOST = "127.0.0.1"
USER = {"username": "benchuser", "email": "u@x.io", "password": "bench-user-pw-1"}
JOB = {"format": "mp4", "video_codec": "libx264", "width": 854, "height": 480, "bitrate": 1500000}
ENCODE = ["-c:v", "libx264", "-preset", "veryfast", "-b:v", "1500k", "-c:a", "aac", "-b:a", "128k"]
CLI_MATCHED = ["-vf", "scale=854:480:flags=bilinear,format=yuv420p", "-thread_type:v", "frame"]
CLI_MATCHED += [*ENCODE, "-ar", "48000", "-ac", "2"]
CLI_QUIET = ["-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
CLI_DEFAULT = ["-vf", "scale=854:480", *ENCODE]
TIMES = ("created", "started", "completed")
RATIO_GOAL, UPLOAD_SIZE, GROWTH_GOAL, MIB = 0.9, 1 << 30, 64 << 20, 1 << 20


class BenchError(RuntimeError):
    pass


def make_clip(path: Path, seconds: int = 30, width: int = 1280, height: int = 720) -> None:
    import av
    import numpy as np

    fps, rate = 25, 48000
    blocks = np.random.default_rng(7).integers(0, 96, (height // 8, width // 8 + 1), np.uint8)
    texture = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
    ramp = np.tile(np.linspace(0, 159, width, dtype=np.uint8), (height, 1))
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=fps, options={"preset": "veryfast", "crf": "20"})
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        audio = out.add_stream("aac", rate=rate, layout="stereo")
        fifo, size = av.AudioFifo(), audio.codec_context.frame_size or 1024
        for index in range(seconds * fps):
            shifted = np.roll(texture, -4 * index, axis=1)[:, :width]
            picture = np.dstack([ramp + shifted, ramp // 2 + shifted, 160 - ramp // 2])
            left = index * 8 % (width - 80)
            picture[:, left : left + 80] = (255, 64, 0)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
            t = np.arange(index * rate // fps, (index + 1) * rate // fps) / rate
            wave = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            sound = av.AudioFrame.from_ndarray(np.vstack([wave, wave]), "fltp", "stereo")
            sound.sample_rate = rate
            fifo.write(sound)
            while fifo.samples >= size:
                out.mux(audio.encode(fifo.read(size)))
        if fifo.samples:
            out.mux(audio.encode(fifo.read()))
        out.mux(video.encode(None))
        out.mux(audio.encode(None))


@contextlib.contextmanager
def platform_server(workdir: Path, name: str) -> Iterator[tuple[str, int, httpx.Client]]:
    """A `platform serve` with its own data dir and a logged-in client; stopped at the end."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")}
    env |= {
        "PLATFORM_DATA_DIR": str(workdir / name),
        "PLATFORM_PLUGINS__ENABLED": '["users","meetings","media","ffmpeg"]',
        "PLATFORM_RATELIMIT__ENABLED": "false",
        "PLATFORM_LOG_LEVEL": "WARNING",
    }
    argv = [str(PLATFORM_BIN), "serve", "--host", HOST, "--port", str(port)]
    log_path, url = workdir / f"{name}.log", f"http://{HOST}:{port}"
    with log_path.open("w") as log:
        proc = subprocess.Popen(argv, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        with httpx.Client(timeout=600, trust_env=False) as client:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(url + "/readyz", timeout=2).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    raise BenchError(f"{name} did not start (exit {proc.poll()}):\n{tail}")
                time.sleep(0.05)
            api(client, "POST", f"{url}/api/v1/auth/register", 201, json=USER)
            body = {k: USER[k] for k in ("username", "password")}
            token = api(client, "POST", f"{url}/api/v1/auth/login", 200, json=body)["token"]
            client.headers["Authorization"] = f"Bearer {token}"
            yield url, proc.pid, client
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def api(client: httpx.Client, method: str, url: str, expect: int, **kwargs: Any) -> Any:
    response = client.request(method, url, **kwargs)
    if response.status_code != expect:
        raise BenchError(f"{method} {url}: {response.status_code} {response.text[:500]}")
    return response.json()["data"]


def vm_hwm(pid: int, reset: bool = False) -> int:
    """The peak resident set size of `pid` (VmHWM in /proc/<pid>/status), in bytes.

    reset: first lower the peak to the current RSS (clear_refs 5), so that an earlier peak
    (argon2 hashing 64 MiB at register and login) cannot hide the growth measured next.
    """
    if reset:
        with contextlib.suppress(OSError):
            Path(f"/proc/{pid}/clear_refs").write_text("5")
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.partition("VmHWM:")[2].split()[0]) * 1024


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and of its children it has waited for (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> float:
    """CPU seconds all processes have used so far (/proc/stat: all but idle and iowait)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def timed(
    title: str, pid: int, runs: int, once: Callable[[], object], detail: str = ""
) -> tuple[float, float, float]:
    """Run `once` `runs` times; return the median wall, CPU and other processes' CPU seconds.

    "Others" is what the rest of the machine used meanwhile: above ~0.5 s, wall times are noisy.
    """
    print(f"\n{title}, {runs} runs{detail}")
    results = []
    for run in range(runs):
        cpu, everyone, started = cpu_seconds(pid), machine_cpu(), time.perf_counter()
        note = once() or ""
        wall, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
        others = max(0.0, machine_cpu() - everyone - cpu)  # the two counts differ by ~0.1 s
        print(
            f"  run {run + 1}: {wall:6.2f} s wall, {cpu:6.2f} s CPU, others {others:5.2f} s{note}"
        )
        results.append((wall, cpu, others))
    walls, cpus, others = zip(*results, strict=True)
    return statistics.median(walls), statistics.median(cpus), statistics.median(others)


def bench_platform(workdir: Path, clip: Path, runs: int) -> tuple[float, float, float]:
    with platform_server(workdir, "platform-transcode") as (url, pid, client):
        with clip.open("rb") as handle:
            files = {"file": (clip.name, handle, "video/mp4")}
            file_id = api(client, "POST", f"{url}/api/v1/media/upload", 201, files=files)["file_id"]

        def once() -> str:
            body = {"file_id": file_id, **JOB}
            job_id = api(client, "POST", f"{url}/api/v1/ffmpeg/transcode", 201, json=body)["job_id"]
            deadline = time.monotonic() + 600
            while True:
                s = api(client, "GET", f"{url}/api/v1/ffmpeg/job/{job_id}/status", 200)
                if s["status"] in ("completed", "failed"):
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"job {job_id} still {s['status']} after 600 s")
                time.sleep(0.05)
            if s["status"] != "completed":
                raise BenchError(f"job {job_id} failed: {s['error']}")
            created, begun, done = (datetime.fromisoformat(s[k + "_at"]) for k in TIMES)
            queued, ran = (begun - created).total_seconds(), (done - begun).total_seconds()
            return f"  (job: queued {queued:.2f} s, ran {ran:.2f} s)"

        return timed("[2] platform transcode", pid, runs, once)


def find_ffmpeg() -> str | None:
    if shutil.which("ffmpeg") is None:
        print("ffmpeg not found: apt-get update && apt-get install -y ffmpeg")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "ffmpeg"]):
                subprocess.run(argv, check=True, timeout=600, env=env, capture_output=True)
    return shutil.which("ffmpeg")


def run_cli(argv: list[str]) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise BenchError(f"ffmpeg failed ({result.returncode}): {result.stderr[-2000:]}")


def bench_upload(workdir: Path) -> tuple[int, int, float]:
    boundary = "benchffmpegboundary7f3a"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    line = b"The quick brown fox jumps over the lazy dog; meeting-platform upload bench.\n"
    block = (line * (1 + MIB // len(line)))[:MIB]

    def body() -> Iterator[bytes]:
        yield head
        for _ in range(UPLOAD_SIZE // MIB):
            yield block
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + UPLOAD_SIZE + len(tail)),
    }
    with platform_server(workdir, "platform-upload") as (url, pid, client):
        upload = f"{url}/api/v1/media/upload"
        before, started = vm_hwm(pid, reset=True), time.perf_counter()
        data = api(client, "POST", upload, 201, content=body(), headers=headers)
        elapsed, after = time.perf_counter() - started, vm_hwm(pid)
    if data["size"] != UPLOAD_SIZE:
        raise BenchError(f"the server stored {data['size']} bytes, not {UPLOAD_SIZE}")
    return before, after, UPLOAD_SIZE / elapsed / 1e6


def wait_for_idle(path: Path = Path("/tmp/full.txt"), timeout: float = 900) -> None:
    """A test run may be writing `path`: measure only once it has a line starting with EXIT."""
    deadline = time.monotonic() + timeout
    while path.exists() and "\nEXIT" not in "\n" + path.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise BenchError(f"{path} has no EXIT line after {timeout:.0f} s")
        print(f"waiting for {path} to show EXIT ...")
        time.sleep(20)


def run(args: argparse.Namespace, work: Path, rows: list[tuple[str, ...]]) -> None:
    def row(label: str, medians: tuple[float, float, float]) -> float:
        rows.append((label, *(f"{value:.2f} s" for value in medians), ""))
        return medians[0]

    clip, started = work / "clip.mp4", time.perf_counter()
    make_clip(clip)
    print(f"[1] clip: {clip.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s")
    platform = row("platform transcode", bench_platform(work, clip, args.runs))
    sys.path.insert(0, str(REPO))
    from plugins.ffmpeg.operations import transcode

    out, pid = work / "out.mp4", os.getpid()
    once = functools.partial(transcode, clip, out, **JOB, progress=lambda _: None)
    row("operations.transcode in-process", timed("[3a] in this process", pid, args.runs, once))
    cmd = [str(args.ffmpeg), *CLI_QUIET, "-i", str(clip)]
    variants = (("b", "same settings", CLI_MATCHED), ("c", "its defaults", CLI_DEFAULT))
    for mark, label, options in variants if args.ffmpeg else ():
        argv = [*cmd, *options, str(out)]
        title, detail = f"[3{mark}] ffmpeg CLI, {label}", "\n  " + " ".join(argv[1:])
        once = functools.partial(run_cli, argv)
        cli = row(f"ffmpeg CLI, {label}", timed(title, pid, args.runs, once, detail))
        verdict = "ok" if cli / platform >= RATIO_GOAL else "MISSED"
        goal = f"goal >= {RATIO_GOAL}: {verdict}" if options is CLI_MATCHED else "(no goal)"
        rows.append(("  CLI time / platform time", f"{cli / platform:.2f}", "", "", goal))
    if not args.skip_upload:
        print(f"\n[4] upload {UPLOAD_SIZE >> 30} GiB of text to a fresh server")
        before, after, mbps = bench_upload(work)
        verdict = "ok" if after - before < GROWTH_GOAL else "MISSED"
        peaks = f"VmHWM {before / MIB:.1f} -> {after / MIB:.1f} MiB"
        print(f"  {peaks}, {mbps:.0f} MB/s")
        growth = f"{(after - before) / MIB:.1f} MiB"
        rows.append(
            ("server peak RSS growth", growth, "", "", f"{peaks}; goal < 64 MiB: {verdict}")
        )
        rows.append(("upload throughput", f"{mbps:.0f} MB/s", "", "", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per transcode variant")
    parser.add_argument("--skip-upload", action="store_true", help="skip the 1 GiB upload")
    parser.add_argument("--skip-cli", action="store_true", help="skip the ffmpeg CLI baseline")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 20:
        parser.error("--runs: 1..20")
    if not PLATFORM_BIN.exists():
        print(f"error: {PLATFORM_BIN} not found: run with the project's virtualenv python")
        return 2
    args.ffmpeg = None if args.skip_cli else find_ffmpeg()
    if not args.skip_cli and args.ffmpeg is None:
        print("NOTE: ffmpeg is not installed and could not be installed: no CLI comparison")
    rows: list[tuple[str, ...]] = []
    started = time.perf_counter()
    try:
        wait_for_idle()
        with tempfile.TemporaryDirectory(prefix="platform-bench-ffmpeg-") as tmp:
            run(args, Path(tmp), rows)
    except BenchError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    print("\n" + "=" * 78 + f"\nSUMMARY ({os.cpu_count()} CPUs)")
    print(f"  {'(medians)':<32}{'wall':>10}{'CPU':>10}{'others':>10}")
    for label, value, cpu, others, note in rows:
        print(f"  {label:<32}{value:>10}{cpu:>10}{others:>10}  {note}")
    print(f"  total {time.perf_counter() - started:.0f} s\n" + "=" * 78)
    return 0


if __name__ == "__main__":
    sys.exit(main())
