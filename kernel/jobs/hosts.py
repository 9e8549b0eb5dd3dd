"""Model hosts: one long-lived process per AI model on a node, so a model loads once, not per job.

A job type registered with `model=<id>` runs in that model's host: the host calls the model's
`load(path)` once (on first use, or when an admin asks), then the job's function as
`function(model, params, workdir, progress)`, one job at a time (models are rarely thread-safe).
Unloading ends the process: the only way to be sure a model's memory goes back to the system.
A job over its time limit, or a crash, takes the host down with it; the next job starts afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from kernel.jobs import child

log = logging.getLogger("platform.jobs")


class ModelState(StrEnum):
    UNLOADED = "unloaded"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    task: str
    engine: str
    path: str
    load: str  # "module:function" taking the path, answering the loaded model
    languages: tuple[str, ...] | None = None
    check: str = "kernel.jobs.child:answer"  # a tiny inference for health checks


class HostFailed(Exception):
    """The model could not be loaded, or its host process died."""


class PipeMessages:
    """Messages from a child process's pipe, as an asyncio queue (no thread per pipe)."""

    def __init__(self, receiver: Any, process: Any, what: str = "the worker process") -> None:
        self.receiver = receiver
        self.process = process
        self.what = what
        self.queue: asyncio.Queue[tuple] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        self.loop.add_reader(receiver.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while self.receiver.poll():
                self.queue.put_nowait(self.receiver.recv())
        except (EOFError, OSError):
            self.loop.remove_reader(self.receiver.fileno())
            self.queue.put_nowait(("eof",))

    async def get(self) -> tuple:
        return await self.queue.get()

    async def death(self) -> str:
        """Why the pipe closed: the process ended, with its exit code."""
        await asyncio.to_thread(self.process.join, 5)
        return f"{self.what} died (exit code {self.process.exitcode})"

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.loop.remove_reader(self.receiver.fileno())
        self.receiver.close()


def resident_memory(pid: int) -> int | None:
    """Bytes of RAM a process uses now (Linux /proc; None elsewhere)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def now() -> datetime:
    return datetime.now(UTC)


class ModelHost:
    def __init__(
        self, spec: ModelSpec, load_timeout: float, changed: Callable[[], Awaitable[None]]
    ) -> None:
        self.spec = spec
        self.load_timeout = load_timeout
        self.changed = changed  # tells the node's heartbeat row at once
        self.state = ModelState.UNLOADED
        self.error: str | None = None
        self.loaded_at: datetime | None = None
        self.last_used_at: datetime | None = None
        self.load_seconds: float | None = None
        self.jobs_run = 0
        self.changed_at = now()
        self.checked: dict[str, Any] | None = None
        self._process: Any = None
        self._sender: Any = None
        self._messages: PipeMessages | None = None
        self._lock = asyncio.Lock()

    def status(self) -> dict[str, Any]:
        alive = self._process is not None and self._process.is_alive()
        return {
            "status": self.state.value,
            "memory_bytes": resident_memory(self._process.pid) if alive else None,
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "load_seconds": self.load_seconds,
            "jobs_run": self.jobs_run,
            "error": self.error,
            "changed_at": self.changed_at.isoformat(),
            "check": self.checked,
        }

    # -- admin -------------------------------------------------------------------------------

    async def load(self) -> None:
        """Load now if not loaded (HostFailed with the reason when it cannot)."""
        async with self._lock:
            if self.state != ModelState.LOADED or not self._alive():
                self._start()
                await self._await_loaded(self.load_timeout)

    async def unload(self) -> None:
        """End the host process (after the job it is running, if any)."""
        async with self._lock:
            was_loaded = self._process is not None
            await self._end(ModelState.UNLOADED)
            if was_loaded:
                log.info("model %s unloaded", self.spec.model_id)

    async def close(self) -> None:
        """Node shutdown: end the host without waiting for a running job (it is handed back)."""
        await self._end(ModelState.UNLOADED)

    async def check(self, seconds: float, scratch: Path) -> None:
        """A health check: one tiny inference on the loaded model, timed (result in `checked`).

        A model that is not loaded is not loaded for it; one busy with a job is answering.
        """
        if self.state != ModelState.LOADED:
            self.checked = None
            return
        if self._lock.locked():  # busy with a job: that is an answer too
            self.checked = {"at": now().isoformat(), "ok": True, "busy": True, "error": None}
            return
        started = asyncio.get_running_loop().time()
        result: dict[str, Any] = {"at": now().isoformat()}
        try:
            async with asyncio.timeout(seconds):
                async with self.job(self.spec.check, {}, scratch, count=False) as messages:
                    while (message := await messages.get())[0] == "progress":
                        pass
            ok = message[0] == "done"
            result.update(ok=ok, error=None if ok else str(message[1]))
        except TimeoutError:
            result.update(ok=False, error=f"no answer within {seconds:g} s")
        result["seconds"] = round(asyncio.get_running_loop().time() - started, 3)
        self.checked = result

    # -- jobs --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def job(
        self, target: str, params: dict[str, Any], workdir: Path, count: bool = True
    ) -> AsyncIterator[Any]:
        """Run one job in the host; yields its message stream (progress, done, error, eof).

        Loading happens inside, so its time counts against the job's limit. Unless the job
        ended with "done" or "error", the host is ended: after a timeout or a cancel the
        model's process may be in any state.
        """
        async with self._lock:
            if self.state != ModelState.LOADED or not self._alive():
                self._start()
            stream = _JobStream(self, ("run", target, params, str(workdir)))
            try:
                yield stream
            finally:
                if count:
                    self.last_used_at = now()
                if stream.finished and count:
                    self.jobs_run += 1
                    with contextlib.suppress(Exception):
                        await self.changed()  # before the job is marked done: readers see it
                elif not stream.finished:
                    await self._end(ModelState.UNLOADED if self.error is None else self.state)

    # -- process -----------------------------------------------------------------------------

    def _alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=True)
        process = context.Process(
            target=child.host_main,
            args=(self.spec.load, self.spec.path, sender, os.getpid()),
            name=f"model-{self.spec.model_id}",
            daemon=True,
        )
        process.start()  # spawn: a fork and exec, quick; the slow part (loading) runs there
        self._process, self._sender = process, receiver
        self._messages = PipeMessages(receiver, process, f"the host of model {self.spec.model_id}")
        self.state, self.error = ModelState.LOADING, None
        log.info("model %s loading from %s", self.spec.model_id, self.spec.path)
        self._notify()

    async def _await_loaded(self, seconds: float) -> None:
        assert self._messages is not None
        try:
            async with asyncio.timeout(seconds):
                message = await self._messages.get()
        except TimeoutError:
            await self._fail(f"loading took longer than {seconds:g} s")
        self._on_load_message(message)

    def _on_load_message(self, message: tuple) -> None:
        if message[0] == "loaded":
            self.state, self.loaded_at, self.load_seconds = ModelState.LOADED, now(), message[1]
            log.info("model %s loaded in %.2f s", self.spec.model_id, message[1])
            self._notify()
            return
        reason = message[1] if message[0] == "error" else "the model process died while loading"
        if message[0] == "error":
            log.warning("model %s failed to load:\n%s", self.spec.model_id, message[2])
        self.state, self.error = ModelState.FAILED, f"loading {self.spec.path}: {reason}"
        self._notify()
        raise HostFailed(self.error)

    async def _fail(self, reason: str) -> None:
        self.error = f"loading {self.spec.path}: {reason}"
        await self._end(ModelState.FAILED)
        raise HostFailed(self.error)

    def send(self, message: tuple) -> None:
        self._sender.send(message)

    async def _end(self, state: ModelState) -> None:
        process, messages = self._process, self._messages
        self._process = self._sender = self._messages = None
        if state != ModelState.FAILED:
            self.error = None
        changed = self.state != state
        self.state = state
        if state == ModelState.UNLOADED:
            self.loaded_at = None
        if process is not None:
            with contextlib.suppress(Exception):
                if process.is_alive():
                    messages.receiver.send(("stop",))
            await asyncio.to_thread(process.join, 2)
            if process.is_alive():
                process.kill()
                await asyncio.to_thread(process.join, 5)
        if messages is not None:
            messages.close()
        if changed:
            self._notify()

    def _notify(self) -> None:
        self.changed_at = now()
        self._report()

    def _report(self) -> None:
        task = asyncio.ensure_future(self.changed())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


class _JobStream:
    """The messages of one job in a host; the host's "loaded" answer sends the job on."""

    def __init__(self, host: ModelHost, run: tuple) -> None:
        self.host = host
        self.run = run
        self.finished = False
        if host.state == ModelState.LOADED:
            host.send(run)

    async def get(self) -> tuple:
        assert self.host._messages is not None
        while True:
            message = await self.host._messages.get()
            if self.host.state == ModelState.LOADING and message[0] in ("loaded", "error", "eof"):
                try:
                    self.host._on_load_message(message)
                except HostFailed as exc:
                    return ("error", f"model {self.host.spec.model_id}: {exc}", "")
                self.host.send(self.run)
                continue
            if message[0] in ("done", "error"):
                self.finished = True
            return message

    async def death(self) -> str:
        assert self.host._messages is not None
        return await self.host._messages.death()
