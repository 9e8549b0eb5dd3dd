"""Long jobs: submit, run in a child process with a timeout and progress, survive crashes.

State machine of a job row: pending → processing → completed | failed. A node takes a job id
from the queue only when it has a free worker slot, claims the row (status pending → processing,
once, whichever node wins), runs the job's function in a fresh child process, and on success
lets the job type's `finish` (in the server, e.g. to store an output file) shape the result.

Nothing stays "processing" forever: a running job refreshes `heartbeat_at`; a sweeper on every
node gives jobs whose heartbeat is older than `jobs.stale_after` back to the queue (until
`jobs.max_attempts`) or fails them; a graceful shutdown hands its running jobs back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import multiprocessing
import os
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.expressions import F

from kernel.jobs import child
from kernel.jobs.models import Job, JobNode, JobStatus
from kernel.jobs.queue import JobQueue, MemoryQueue, RedisStreamQueue

log = logging.getLogger("platform.jobs")
Finish = Callable[[Job, dict[str, Any], Path], Awaitable[dict[str, Any] | None]]

__all__ = ["Job", "JobFailed", "JobNode", "JobService", "JobStatus", "JobType"]


@dataclass(frozen=True)
class JobType:
    kind: str
    target: str
    finish: Finish | None
    timeout: int | None


class JobFailed(Exception):
    """The job's function failed; the message is what the job's `error` says."""


def now() -> datetime:
    return datetime.now(UTC)


def target_name(run: Callable | str) -> str:
    if isinstance(run, str):
        if ":" not in run:
            raise TypeError(f"job function {run!r}: expected 'module:function'")
        return run
    if not callable(run) or "<" in run.__qualname__:
        raise TypeError(f"job function {run!r}: must be a module-level function")
    return f"{run.__module__}:{run.__qualname__}"


class JobService:
    def __init__(self, settings: Any, events: Any, storage: Any, node: str) -> None:
        self.settings = settings
        self.events = events
        self.storage = storage
        self.node = node
        self.types: dict[str, JobType] = {}
        self.workers = int(settings.get("jobs.workers", 2))
        self.default_timeout = int(settings.get("jobs.timeout", 3600))
        self.stale_after = float(settings.get("jobs.stale_after", 60))
        self.max_attempts = int(settings.get("jobs.max_attempts", 2))
        self.queue: JobQueue | None = None
        self.started_at = now()
        self._tasks: set[asyncio.Task] = set()
        self._loops: list[asyncio.Task] = []

    def add_type(
        self,
        kind: str,
        run: Callable | str,
        *,
        finish: Finish | None = None,
        timeout: int | None = None,
    ) -> JobType:
        if not isinstance(kind, str) or not kind or len(kind) > 64:
            raise TypeError(f"job kind {kind!r}: expected a short string")
        if kind in self.types:
            raise ValueError(f"job kind {kind!r} is registered twice")
        if finish is not None and not inspect.iscoroutinefunction(finish):
            raise TypeError(f"job kind {kind!r}: finish must be an async function")
        job_type = JobType(kind, target_name(run), finish, timeout)
        self.types[kind] = job_type
        return job_type

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        redis_url = self.settings.get("redis_url")
        self.queue = RedisStreamQueue(redis_url, self.node) if redis_url else MemoryQueue()
        if not self.types:
            return
        self.started_at = now()  # this run of the node, for GET /api/v1/nodes
        await self.heartbeat()
        await self.sweep()
        # Queue entries do not outlive an in-memory queue (or a Redis without persistence):
        # offer every waiting job again; a duplicate entry is skipped at claim time.
        async for job in Job.filter(status=JobStatus.PENDING, kind__in=list(self.types)):
            await self.queue.put(job.kind, job.id)
        await self._clean_scratch()
        self._loops = [asyncio.create_task(self._sweep_loop(), name="jobs-sweeper")]
        if self.workers > 0:
            self._loops.append(asyncio.create_task(self._take_loop(), name="jobs-worker"))

    async def stop(self) -> None:
        if self.types and self.queue is not None:
            with contextlib.suppress(Exception):
                await JobNode.filter(name=self.node).update(stopped_at=now(), running=0)
        for task in self._loops:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        self._loops, self._tasks = [], set()
        if self.queue is not None:
            await self.queue.close()
            self.queue = None

    # -- public API ------------------------------------------------------------------------

    async def submit(
        self, kind: str, *, user_id: int, params: dict[str, Any], time_limit: int | None = None
    ) -> Job:
        """Create a pending job and queue it; any node with a free worker runs it."""
        job_type = self.types.get(kind)
        if time_limit is not None and time_limit < 1:
            raise ValueError("time_limit must be at least 1 second")
        if job_type is None:
            raise KeyError(f"no job type {kind!r} is registered")
        if self.queue is None:
            raise RuntimeError("the job service is not started")
        job = await Job.create(
            kind=kind,
            user_id=user_id,
            params=params,
            timeout=int(time_limit or job_type.timeout or self.default_timeout),
        )
        await self.queue.put(kind, job.id)
        log.info("job %s (%s) queued for user %s", job.id, kind, user_id)
        return job

    async def get(self, job_id: int) -> Job | None:
        return await Job.get_or_none(id=job_id)

    async def wait(self, job: Job, seconds: float) -> Job:
        """The job once completed or failed; TimeoutError after `seconds` (it keeps running)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while job.status not in (JobStatus.COMPLETED, JobStatus.FAILED):
            if loop.time() > deadline:
                raise TimeoutError(f"job {job.id} still {job.status.value} after {seconds:g} s")
            await asyncio.sleep(0.05)
            job = await Job.get(id=job.id)
        return job

    # -- running ---------------------------------------------------------------------------

    async def _take_loop(self) -> None:
        slots = asyncio.Semaphore(self.workers)
        kinds = list(self.types)
        while True:
            await slots.acquire()
            try:
                job_id, ack = await self.queue.take(kinds)
                job = await self._claim(job_id)
                await ack()
            except asyncio.CancelledError:
                slots.release()
                raise
            except Exception:
                slots.release()
                log.exception("jobs: taking a job failed; trying again in 1 s")
                await asyncio.sleep(1)
                continue
            if job is None:
                slots.release()
                continue
            task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(lambda _: slots.release())

    async def _claim(self, job_id: int) -> Job | None:
        claimed = await Job.filter(id=job_id, status=JobStatus.PENDING).update(
            status=JobStatus.PROCESSING,
            node=self.node,
            progress=0,
            error=None,
            started_at=now(),
            heartbeat_at=now(),
            attempts=F("attempts") + 1,
        )
        return await Job.get(id=job_id) if claimed else None

    def workdir(self, job: Job) -> Path:
        return Path(self.storage.scratch_dir()) / f"job-{job.id}"

    async def _run(self, job: Job) -> None:
        job_type = self.types[job.kind]
        workdir = self.workdir(job)
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        log.info("job %s (%s) started on %s, attempt %s", job.id, job.kind, self.node, job.attempts)
        try:
            result = await self._execute(job, job_type, workdir)
            if job_type.finish is not None:
                result = await job_type.finish(job, result, workdir) or result
        except asyncio.CancelledError:
            # Shutdown: hand the job back so another node, or this one after restart, runs it.
            await Job.filter(id=job.id, status=JobStatus.PROCESSING, node=self.node).update(
                status=JobStatus.PENDING, node=None, attempts=F("attempts") - 1, progress=0
            )
            log.info("job %s (%s) handed back at shutdown", job.id, job.kind)
            raise
        except Exception as exc:
            message = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, JobFailed):
                log.exception("job %s (%s) failed", job.id, job.kind)
            await self._end(job, JobStatus.FAILED, error=message)
        else:
            await self._end(job, JobStatus.COMPLETED, result=result)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _end(
        self,
        job: Job,
        status: JobStatus,
        *,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "completed_at": now(), "error": error}
        if status == JobStatus.COMPLETED:
            values.update(progress=100, result=result)
        updated = await Job.filter(id=job.id, status=JobStatus.PROCESSING, node=self.node).update(
            **values
        )
        if not updated:
            log.warning("job %s finished here but was taken over meanwhile; result dropped", job.id)
            return
        if status == JobStatus.COMPLETED:
            log.info("job %s (%s) completed", job.id, job.kind)
            await self.events.publish(
                "job.completed", job_id=job.id, kind=job.kind, user_id=job.user_id, result=result
            )
        else:
            log.warning("job %s (%s) failed: %s", job.id, job.kind, error)
            await self.events.publish(
                "job.failed", job_id=job.id, kind=job.kind, user_id=job.user_id, error=error
            )

    async def _execute(self, job: Job, job_type: JobType, workdir: Path) -> dict[str, Any]:
        context = multiprocessing.get_context("spawn")
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=child.main,
            args=(job_type.target, job.params, str(workdir), sender, os.getpid()),
            name=f"job-{job.id}",
            daemon=True,
        )
        await asyncio.to_thread(process.start)
        sender.close()
        messages: asyncio.Queue[tuple] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                while receiver.poll():
                    messages.put_nowait(receiver.recv())
            except (EOFError, OSError):
                loop.remove_reader(receiver.fileno())
                messages.put_nowait(("eof",))

        loop.add_reader(receiver.fileno(), readable)
        deadline = time.monotonic() + job.timeout
        heartbeat = max(self.stale_after / 4, 0.5)
        progress, saved_at = 0, time.monotonic()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise JobFailed(f"timed out after {job.timeout} s")
                try:
                    message = await asyncio.wait_for(messages.get(), min(heartbeat, remaining))
                except TimeoutError:
                    message = ("tick",)
                if message[0] == "done":
                    return message[1]
                if message[0] == "error":
                    log.info("job %s (%s) error in worker:\n%s", job.id, job.kind, message[2])
                    raise JobFailed(message[1])
                if message[0] == "eof":
                    await asyncio.to_thread(process.join, 5)
                    raise JobFailed(f"the worker process died (exit code {process.exitcode})")
                if message[0] == "progress":
                    progress = min(int(message[1]), 99)
                if time.monotonic() - saved_at >= min(1.0, heartbeat) or message[0] == "tick":
                    saved_at = time.monotonic()
                    await Job.filter(id=job.id, node=self.node).update(
                        progress=progress, heartbeat_at=now()
                    )
        finally:
            with contextlib.suppress(Exception):
                loop.remove_reader(receiver.fileno())
            receiver.close()
            if process.is_alive():
                process.kill()
            await asyncio.to_thread(process.join, 5)

    # -- crash recovery --------------------------------------------------------------------

    async def sweep(self) -> None:
        """Retry or fail jobs whose node stopped reporting (crash, kill, network loss)."""
        cutoff = now() - timedelta(seconds=self.stale_after)
        stale = Job.filter(
            status=JobStatus.PROCESSING, heartbeat_at__lt=cutoff, kind__in=list(self.types)
        )
        async for job in stale:
            owner = job.node
            if job.attempts < self.max_attempts:
                retried = await Job.filter(
                    id=job.id, status=JobStatus.PROCESSING, heartbeat_at__lt=cutoff
                ).update(status=JobStatus.PENDING, node=None, progress=0)
                if retried:
                    log.warning("job %s: node %s stopped; queued again", job.id, owner)
                    await self.queue.put(job.kind, job.id)
            else:
                error = f"interrupted: node {owner} stopped while running it ({job.attempts} tries)"
                failed = await Job.filter(
                    id=job.id, status=JobStatus.PROCESSING, heartbeat_at__lt=cutoff
                ).update(status=JobStatus.FAILED, error=error, completed_at=now())
                if failed:
                    log.warning("job %s (%s) failed: %s", job.id, job.kind, error)
                    await self.events.publish(
                        "job.failed", job_id=job.id, kind=job.kind, user_id=job.user_id, error=error
                    )
        await self.queue.reclaim(list(self.types), self.stale_after)

    async def heartbeat(self, checked: bool = False) -> None:
        """Say that this node is alive, what it runs and how busy it is."""
        values: dict[str, Any] = {
            "kinds": sorted(self.types),
            "workers": self.workers,
            "running": len(self._tasks),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": self.started_at,
            "heartbeat_at": now(),
            "stopped_at": None,
        }
        if checked:
            values["checked_at"] = now()
        await JobNode.update_or_create(defaults=values, name=self.node)

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(max(self.stale_after / 3, 0.5))
            try:
                await self.heartbeat()
                await self.sweep()
            except Exception:
                log.exception("jobs: sweep failed")

    async def _clean_scratch(self) -> None:
        """Work directories of jobs that no longer run anywhere (left by a crash)."""
        running = await Job.filter(status=JobStatus.PROCESSING).values_list("id", flat=True)
        await asyncio.to_thread(
            _clean_scratch, Path(self.storage.scratch_dir()), {f"job-{i}" for i in running}
        )


def _clean_scratch(scratch: Path, keep: set[str]) -> None:
    for path in scratch.glob("job-*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
    day_ago = time.time() - 86400
    for path in scratch.glob("upload-*"):
        if path.stat().st_mtime < day_ago:  # another node may be receiving it right now
            path.unlink(missing_ok=True)
