"""What the benchmarks share: a server process with its log, free ports, one error type.

The benchmarks are scripts (`python tests/bench/bench_x.py`), so this directory is on their
import path and `from common import ...` works.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

HOST = "127.0.0.1"


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """One server process (by its own pid only), its log file and its base URL."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        cwd: Path,
        port: int,
        preexec_fn: Callable[[], object] | None = None,
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.ws_url = f"ws://{HOST}:{port}"
        self.log = cwd / f"{name}.log"
        self._log_handle = self.log.open("w")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
        )

    def log_tail(self, chars: int = 3000) -> str:
        self._log_handle.flush()
        return self.log.read_text(errors="replace")[-chars:]

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")

    def wait_ready(self, path: str, timeout: float = 60.0, poll: float = 0.01) -> float:
        """Poll `path`; return the seconds from process start to the first 200."""
        deadline = self.started + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.perf_counter() < deadline:
                self.check_alive()
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + path).status_code == 200:
                        return time.perf_counter() - self.started
                time.sleep(poll)
        raise BenchError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def rss_kb(self) -> int:
        """VmRSS of the server process, in kB (/proc/<pid>/status)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise BenchError(f"no VmRSS in /proc/{self.proc.pid}/status")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log_handle.close()


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Stop every server at the end, also on errors and Ctrl-C."""
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()
