"""HTTP benchmark of `platform serve`: start-up time and throughput against a bare Quart app.

Run from anywhere:  .venv/bin/python tests/bench/bench_http.py [--duration 10] [--connections 32]

1. Start-up: the time from starting `platform serve` to the first 200 on GET /readyz, on a new
   data dir (includes the migrations) and again on the same data dir; kernel only
   (PLATFORM_PLUGINS__ENABLED=[]) and with every installed plugin (the variable unset: "*").
2. Accounts: `platform user create --admin` before the server starts, then register and log in a
   user over HTTP (POST /api/v1/auth/register, /api/v1/auth/login).
3. Throughput: an authenticated JSON endpoint (--path, default GET /-/plugins as the admin) and a
   bare Quart "hello" app (tests/bench/bare_app.py) under the same hypercorn settings, loaded by
   the same generator for the same time and concurrency: wrk when installed (Debian package
   `wrk`), else a small asyncio keep-alive client in this process (--loadgen asyncio). Both get
   the same request headers.

Rate limits are disabled (PLATFORM_RATELIMIT__ENABLED=false) so the load never meets a 429. Every
server binds 127.0.0.1 and is stopped at the end, also on errors and Ctrl-C. This is a benchmark,
not a test: tests/bench/conftest.py keeps pytest from collecting it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import HOST, BenchError, Server, free_port, running

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BIN_DIR = Path(sys.executable).parent
PLATFORM_BIN = BIN_DIR / "platform"
STARTUP_GOAL_S = 1.5
RATIO_GOAL = 0.6
ADMIN = {"username": "benchadmin", "email": "b@x.io", "password": "bench-admin-pw-1"}
USER = {"username": "benchuser", "email": "u@x.io", "password": "bench-user-pw-1"}


# -- processes ----------------------------------------------------------------------------


def platform_env(data_dir: Path, plugins: str) -> dict[str, str]:
    """The environment of every platform command: no PLATFORM_* of the caller leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")}
    env.update(
        {
            "PLATFORM_DATA_DIR": str(data_dir),
            "PLATFORM_LOG_LEVEL": "WARNING",
            "PLATFORM_RATELIMIT__ENABLED": "false",
        }
    )
    if plugins == "kernel":
        env["PLATFORM_PLUGINS__ENABLED"] = "[]"
    return env


def start_platform(name: str, env: dict[str, str], cwd: Path) -> Server:
    port = free_port()
    argv = [str(PLATFORM_BIN), "serve", "--host", HOST, "--port", str(port)]
    return Server(name, argv, env, cwd, port)


def start_bare(cwd: Path) -> Server:
    port = free_port()
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=pythonpath)
    argv = [sys.executable, "-m", "tests.bench.bare_app", "--host", HOST, "--port", str(port)]
    return Server("bare", argv, env, cwd, port)


def create_admin(env: dict[str, str], cwd: Path) -> None:
    argv = [str(PLATFORM_BIN), "user", "create", "--username", ADMIN["username"]]
    argv += ["--email", ADMIN["email"], "--admin"]
    result = subprocess.run(
        argv,
        cwd=cwd,
        env=env | {"PLATFORM_USER_PASSWORD": ADMIN["password"]},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise BenchError(f"platform user create failed:\n{result.stdout}{result.stderr}")
    print(f"  {result.stdout.strip()}")


# -- accounts over HTTP -------------------------------------------------------------------


def api(client: httpx.Client, method: str, url: str, expect: int, **kwargs: Any) -> Any:
    response = client.request(method, url, **kwargs)
    if response.status_code != expect:
        raise BenchError(f"{method} {url}: {response.status_code} {response.text[:500]}")
    return response.json()


def login(client: httpx.Client, base: str, username: str, password: str) -> str:
    body = {"username": username, "password": password}
    return api(client, "POST", f"{base}/api/v1/auth/login", 200, json=body)["data"]["token"]


# -- load ---------------------------------------------------------------------------------


@dataclass
class LoadResult:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    errors: int  # connect, read, write and timeout errors
    non_2xx: int  # responses with a status >= 400 (wrk's "Non-2xx or 3xx")

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


WRK_SCRIPT = """\
wrk.method = "GET"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH-RESULT %d %d %d %d %d %d %d %.0f %.0f %.0f\\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
"""


def lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_wrk(
    label: str, url: str, headers: dict[str, str], seconds: float, args: argparse.Namespace
) -> LoadResult:
    script = Path(args.workdir) / f"wrk-{re.sub(r'[^A-Za-z0-9]+', '-', label)}.lua"
    lines = [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in headers.items()]
    script.write_text(WRK_SCRIPT.format(headers="\n".join(lines)))
    threads = max(1, min(args.threads, args.connections))
    argv = ["wrk", "-t", str(threads), "-c", str(args.connections), "-d", f"{seconds:g}s"]
    argv += ["--timeout", "5s", "-s", str(script), url]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    match = re.search(r"^BENCH-RESULT ([\d ]+)$", result.stdout, re.MULTILINE)
    if result.returncode != 0 or not match:
        raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    n, duration_us, connect, read, write, status, timeout, p50, p99, mean = map(
        int, match.group(1).split()
    )
    return LoadResult(
        label,
        requests=n,
        seconds=duration_us / 1e6,
        p50_ms=p50 / 1000,
        p99_ms=p99 / 1000,
        mean_ms=mean / 1000,
        errors=connect + read + write + timeout,
        non_2xx=status,
    )


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked body); return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _asyncio_load(
    label: str, url: str, headers: dict[str, str], seconds: float, connections: int
) -> LoadResult:
    """`connections` keep-alive connections, each sending its next request on each response."""
    parsed = httpx.URL(url)
    target = parsed.raw_path.decode()
    lines = [f"GET {target} HTTP/1.1", f"Host: {parsed.host}:{parsed.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    counts = {"errors": 0, "non_2xx": 0}
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
                begin = time.perf_counter()
                writer.write(request)
                status = await asyncio.wait_for(_read_response(reader), 5.0)
            except (
                TimeoutError,
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ):
                counts["errors"] += 1
                if writer is not None:
                    writer.close()
                writer = None
                continue
            latencies.append(time.perf_counter() - begin)
            if status >= 400:
                counts["non_2xx"] += 1
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def percentile(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000

    mean = sum(latencies) / len(latencies) * 1000 if latencies else float("nan")
    return LoadResult(
        label, len(latencies), elapsed, percentile(50), percentile(99), mean, **counts
    )


def run_asyncio(
    label: str, url: str, headers: dict[str, str], seconds: float, args: argparse.Namespace
) -> LoadResult:
    return asyncio.run(_asyncio_load(label, url, headers, seconds, args.connections))


def load(label: str, url: str, headers: dict[str, str], args: argparse.Namespace) -> LoadResult:
    runner = run_wrk if args.loadgen == "wrk" else run_asyncio
    if args.warmup > 0:
        runner(label + " warm-up", url, headers, args.warmup, args)
    result = runner(label, url, headers, args.duration, args)
    print(
        f"  {label:<28} {result.rps:>9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
        f"p99 {result.p99_ms:7.2f} ms  ({result.requests} requests, "
        f"{result.errors} errors, {result.non_2xx} non-2xx)"
    )
    if result.non_2xx or result.errors:
        print(f"  WARNING: {label}: {result.non_2xx} non-2xx, {result.errors} socket errors")
    return result


def choose_loadgen(args: argparse.Namespace) -> str:
    if args.loadgen == "asyncio":
        return "asyncio"
    if shutil.which("wrk") is None and args.install_wrk:
        print("wrk not found: apt-get update && apt-get install -y wrk")
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(["apt-get", "update", "-qq"], check=True, timeout=300)
            subprocess.run(
                ["apt-get", "install", "-y", "-qq", "wrk"],
                check=True,
                timeout=300,
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
            )
    if shutil.which("wrk"):
        return "wrk"
    if args.loadgen == "wrk":
        raise BenchError("wrk is not installed (Debian: apt-get install wrk)")
    print(
        "NOTE: wrk not found (Debian: apt-get install wrk, or pass --install-wrk); using the "
        "asyncio client (Python, shares the CPU with the server): compare the ratio, not req/s."
    )
    return "asyncio"


# -- phases -------------------------------------------------------------------------------


@dataclass
class Startup:
    plugins: str
    run: str
    seconds: float | None  # None: the server did not get ready
    error: str = ""


def measure_startups(workdir: Path) -> list[Startup]:
    results: list[Startup] = []
    for plugins, title in (("kernel", "kernel only"), ("all", "all installed plugins")):
        data_dir = workdir / f"startup-{plugins}" / "data"
        env = platform_env(data_dir, plugins)
        for run in ("first start (migrations)", "second start (same data dir)"):
            server = start_platform(f"startup-{plugins}-{len(results)}", env, workdir)
            try:
                with running(server):
                    seconds = server.wait_ready("/readyz")
            except BenchError as exc:
                # One broken configuration (e.g. a plugin) must not hide the other timings.
                lines = [line for line in str(exc).splitlines() if line.strip()]
                error = lines[-1].strip() if lines else "failed"
                print(f"  {title:<22} {run:<30}  FAILED: {error}")
                results.append(Startup(title, run, None, error))
                break
            print(f"  {title:<22} {run:<30} {seconds * 1000:7.0f} ms")
            results.append(Startup(title, run, seconds))
    return results


def measure_load(args: argparse.Namespace, workdir: Path) -> list[LoadResult]:
    env = platform_env(workdir / "load" / "data", args.plugins)
    create_admin(env, workdir)
    results: list[LoadResult] = []
    with running(start_platform("platform-load", env, workdir)) as (server,):
        try:
            server.wait_ready("/readyz")
        except BenchError as exc:
            hint = (
                " (a plugin may be broken: try --plugins kernel)" if args.plugins == "all" else ""
            )
            raise BenchError(f"the platform did not start{hint}: {exc}") from exc
        base = server.url
        with httpx.Client(timeout=10.0, trust_env=False) as client:
            api(client, "POST", f"{base}/api/v1/auth/register", 201, json=USER)
            user_token = login(client, base, USER["username"], USER["password"])
            admin_token = login(client, base, ADMIN["username"], ADMIN["password"])
            token = user_token if args.as_user else admin_token
            headers = {"Authorization": f"Bearer {token}"}
            response = client.get(base + args.path, headers=headers)
            if response.status_code != 200:
                raise BenchError(f"GET {args.path}: {response.status_code} {response.text[:500]}")
            print(
                f"  registered and logged in {USER['username']!r}; logged in "
                f"{ADMIN['username']!r}; GET {args.path} as "
                f"{'the user' if args.as_user else 'the admin'}: 200, "
                f"{len(response.content)} bytes"
            )
            if args.path == "/-/plugins":
                plugins = response.json().get("data", {}).get("plugins", [])
                loaded = [p["name"] for p in plugins if p.get("loaded")]
                print(f"  plugins loaded: {', '.join(loaded) or 'none'}")
        results.append(load(f"platform GET {args.path}", base + args.path, headers, args))
        if args.healthz:
            results.append(load("platform GET /healthz", base + "/healthz", headers, args))
    with running(start_bare(workdir)) as (bare,):
        bare.wait_ready("/")
        results.append(load("bare quart GET /", bare.url + "/", headers, args))
    return results


# -- report -------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_summary(
    args: argparse.Namespace, startups: list[Startup], loads: list[LoadResult]
) -> bool:
    all_ok = True
    print("\n" + "=" * 78)
    print("SUMMARY")
    print(
        f"loopback {HOST}, one hypercorn worker, log level WARNING, rate limits disabled "
        f"(PLATFORM_RATELIMIT__ENABLED=false); load: {args.loadgen}, {args.duration:g} s, "
        f"{args.connections} connections"
    )
    if startups:
        print(
            f"\n{'start-up to first 200 on /readyz':<34}{'':<30}{'time':>8}"
            f"  goal < {STARTUP_GOAL_S} s"
        )
        for s in startups:
            ok = s.seconds is not None and s.seconds < STARTUP_GOAL_S
            all_ok &= ok
            if s.seconds is None:
                print(f"  {s.plugins:<32}{s.run:<30}{'FAILED':>9}  {s.error[:60]}")
            else:
                print(f"  {s.plugins:<32}{s.run:<30}{s.seconds * 1000:>6.0f} ms  {verdict(ok)}")
    if loads:
        print(
            f"\n{'throughput':<34}{'req/s':>9}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}"
            f"{'errors':>9}"
        )
        for r in loads:
            print(
                f"  {r.label:<32}{r.rps:>9.0f}{r.p50_ms:>10.2f}{r.p99_ms:>10.2f}"
                f"{r.mean_ms:>10.2f}{r.non_2xx + r.errors:>9}"
            )
        bare = loads[-1]
        for r in loads[:-1]:
            ratio = r.rps / bare.rps if bare.rps else 0.0
            main = r is loads[0]
            ok = ratio >= RATIO_GOAL and not (r.non_2xx or r.errors)
            if main:
                all_ok &= ok
            goal = f"goal >= {RATIO_GOAL}: {verdict(ok)}" if main else "(reference, no goal)"
            print(f"  ratio {r.label} / bare: {ratio:.2f}  {goal}")
    print("=" * 78)
    return all_ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Start-up time and throughput of `platform serve` against a bare Quart app."
    )
    parser.add_argument("--path", default="/-/plugins", help="authenticated GET endpoint to load")
    parser.add_argument(
        "--as-user",
        action="store_true",
        help="use the registered user's token instead of the admin's",
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up, discarded")
    parser.add_argument(
        "--loadgen", choices=["auto", "wrk", "asyncio"], default="auto", help="load generator"
    )
    parser.add_argument(
        "--install-wrk", action="store_true", help="apt-get install wrk when it is missing"
    )
    parser.add_argument(
        "--plugins",
        choices=["all", "kernel"],
        default="all",
        help="plugins of the loaded server: all installed (the default '*') or kernel only",
    )
    parser.add_argument(
        "--no-healthz",
        dest="healthz",
        action="store_false",
        help="skip the reference load of GET /healthz (no auth, no database)",
    )
    parser.add_argument("--skip-startup", action="store_true", help="skip the start-up timings")
    parser.add_argument("--skip-load", action="store_true", help="skip the throughput runs")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a goal is missed (for CI-like use)"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.duration <= 300:
        parser.error("--duration: 1..300 seconds")
    if not 0 <= args.warmup <= 60:
        parser.error("--warmup: 0..60 seconds")
    if not 1 <= args.connections <= 1024:
        parser.error("--connections: 1..1024")
    if not args.path.startswith("/"):
        parser.error("--path must start with '/'")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not PLATFORM_BIN.exists():
        print(f"error: {PLATFORM_BIN} not found: run with the project's virtualenv python")
        return 2
    args.loadgen = choose_loadgen(args) if not args.skip_load else args.loadgen
    print(
        f"meeting-platform HTTP benchmark: {PLATFORM_BIN}, loopback {HOST} only.\n"
        "Rate limits are DISABLED for every server started here "
        "(PLATFORM_RATELIMIT__ENABLED=false), so the load never meets a 429."
    )
    startups: list[Startup] = []
    loads: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="platform-bench-") as tmp:
        args.workdir = tmp
        try:
            if not args.skip_startup:
                print(
                    "\n[1] start-up: process start -> first 200 on GET /readyz "
                    f"(goal < {STARTUP_GOAL_S} s)"
                )
                startups = measure_startups(Path(tmp))
            if not args.skip_load:
                print(
                    f"\n[2-5] load: {args.loadgen}, {args.duration:g} s (+{args.warmup:g} s "
                    f"warm-up), {args.connections} connections, plugins: {args.plugins}"
                )
                loads = measure_load(args, Path(tmp))
        except BenchError as exc:
            print(f"\nerror: {exc}", file=sys.stderr)
            return 1
    all_ok = print_summary(args, startups, loads)
    return 1 if args.strict and not all_ok else 0


if __name__ == "__main__":
    sys.exit(main())
