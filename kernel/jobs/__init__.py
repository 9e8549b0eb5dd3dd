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
import dataclasses
import inspect
import logging
import multiprocessing
import os
import shutil
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.expressions import F

from kernel.jobs import child
from kernel.jobs.hosts import HostFailed, ModelHost, ModelSpec, ModelState, PipeMessages
from kernel.jobs.models import Job, JobNode, JobStatus
from kernel.jobs.queue import JobQueue, MemoryQueue, RedisStreamQueue

log = logging.getLogger("platform.jobs")
POLL = 1.0  # seconds between reads of a waited-for job's row, should its end event be lost
Finish = Callable[[Job, dict[str, Any], Path], Awaitable[dict[str, Any] | None]]

__all__ = [
    "HostFailed",
    "Job",
    "JobFailed",
    "JobNode",
    "JobService",
    "JobStatus",
    "JobType",
    "ModelSpec",
    "ModelState",
]


@dataclass(frozen=True)
class JobType:
    kind: str
    target: str
    finish: Finish | None
    timeout: int | None
    model: str | None = None


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
        self.models: dict[str, ModelSpec] = {}
        self.hosts: dict[str, ModelHost] = {}
        self.load_timeout = float(settings.get("jobs.model_load_timeout", 600))
        self.workers = int(settings.get("jobs.workers", 2))
        self.default_timeout = int(settings.get("jobs.timeout", 3600))
        self.stale_after = float(settings.get("jobs.stale_after", 60))
        self.max_attempts = int(settings.get("jobs.max_attempts", 2))
        self.queue: JobQueue | None = None
        self.started_at = now()
        self._tasks: set[asyncio.Task] = set()
        self._waiters: dict[int, asyncio.Event] = {}
        self._loops: list[asyncio.Task] = []

    def add_type(
        self,
        kind: str,
        run: Callable | str,
        *,
        finish: Finish | None = None,
        timeout: int | None = None,
        model: str | None = None,
    ) -> JobType:
        if not isinstance(kind, str) or not kind or len(kind) > 64:
            raise TypeError(f"job kind {kind!r}: expected a short string")
        if kind in self.types:
            raise ValueError(f"job kind {kind!r} is registered twice")
        if finish is not None and not inspect.iscoroutinefunction(finish):
            raise TypeError(f"job kind {kind!r}: finish must be an async function")
        if model is not None and model not in self.models:
            raise ValueError(f"job kind {kind!r}: model {model!r} is not registered")
        job_type = JobType(kind, target_name(run), finish, timeout, model)
        self.types[kind] = job_type
        return job_type

    def add_model(
        self,
        model_id: str,
        *,
        task: str,
        engine: str,
        path: str,
        load: Callable | str,
        languages: Any = None,
        check: Callable | str | None = None,
    ) -> ModelSpec:
        if not isinstance(model_id, str) or not model_id or len(model_id) > 64 or "/" in model_id:
            raise TypeError(f"model id {model_id!r}: expected a short string without '/'")
        if model_id in self.models:
            raise ValueError(f"model {model_id!r} is registered twice")
        langs = tuple(languages) if languages is not None else None
        spec = ModelSpec(model_id, str(task), str(engine), str(path), target_name(load), langs)
        if check is not None:
            spec = dataclasses.replace(spec, check=target_name(check))
        self.models[model_id] = spec
        self.hosts[model_id] = ModelHost(spec, self.load_timeout, self._models_changed)
        return spec

    async def load_model(self, model_id: str) -> None:
        """Load a model on this node now (HostFailed with the reason when it cannot)."""
        await self.hosts[model_id].load()

    async def unload_model(self, model_id: str) -> None:
        await self.hosts[model_id].unload()

    async def check_models(self, seconds: float = 3) -> None:
        """Health check: a tiny inference in every loaded model's host, all at once."""
        scratch = Path(self.storage.scratch_dir()) / f"check-{self.node}"
        await asyncio.to_thread(scratch.mkdir, parents=True, exist_ok=True)
        await asyncio.gather(*(host.check(seconds, scratch) for host in self.hosts.values()))

    def change_model_soon(self, model_id: str, load: bool) -> bool:
        """Load or unload in the background (an event handler must not wait minutes for it).

        Only a node that takes jobs keeps models; False when this node does not act.
        """
        if model_id not in self.hosts or self.workers <= 0 or self.queue is None:
            return False

        async def change() -> None:
            try:
                await (self.load_model if load else self.unload_model)(model_id)
            except HostFailed as exc:
                log.warning("model %s: %s", model_id, exc)  # kept in its status for the API

        task = asyncio.create_task(change(), name=f"model-{model_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    def model_status(self) -> dict[str, dict[str, Any]]:
        """This node's models: what they are and whether they are loaded, for its heartbeat."""
        return {
            model_id: {
                "task": spec.task,
                "engine": spec.engine,
                "path": spec.path,
                "languages": list(spec.languages) if spec.languages else None,
                **self.hosts[model_id].status(),
            }
            for model_id, spec in self.models.items()
        }

    async def _models_changed(self) -> None:
        if self.types and self.queue is not None:
            await JobNode.filter(name=self.node).update(models=self.model_status())

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
        for task in self._loops:
            task.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._loops, *self._tasks, return_exceptions=True)
        for host in self.hosts.values():
            await host.close()
        if self.types and self.queue is not None:
            with contextlib.suppress(Exception):
                await JobNode.filter(name=self.node).update(
                    stopped_at=now(), running=0, models=self.model_status()
                )
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
        """The job once completed or failed; TimeoutError after `seconds` (it keeps running).

        The job's end event (from whichever node ran it) wakes the waiter; the row is also
        read every `POLL` seconds in case an event was lost (a Redis reconnect).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        ended = self._waiters.setdefault(job.id, asyncio.Event())
        try:
            while job.status not in (JobStatus.COMPLETED, JobStatus.FAILED):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(f"job {job.id} still {job.status.value} after {seconds:g} s")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(POLL, remaining)):
                        await ended.wait()
                job = await Job.get(id=job.id)
        finally:
            self._waiters.pop(job.id, None)
        return job

    def job_ended(self, job_id: int) -> None:
        """A job.completed/job.failed event arrived: wake whoever waits for that job."""
        if waiter := self._waiters.get(job_id):
            waiter.set()

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
        keep_alive = asyncio.create_task(self._keep_alive(job), name=f"job-{job.id}-heartbeat")
        try:
            if job_type.model is None:
                async with _child_process(job, job_type.target, workdir) as messages:
                    return await self._follow(job, messages)
            host = self.hosts.get(job_type.model)
            if host is None:
                raise JobFailed(f"model {job_type.model!r} is not registered on node {self.node}")
            async with host.job(job_type.target, job.params, workdir) as messages:
                return await self._follow(job, messages)
        finally:
            keep_alive.cancel()

    async def _follow(self, job: Job, messages: Any) -> dict[str, Any]:
        """Wait for the job's answer within its time limit, saving progress on the way."""
        deadline = time.monotonic() + job.timeout
        saved_at = 0.0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise JobFailed(f"timed out after {job.timeout} s")
            try:
                async with asyncio.timeout(remaining):
                    message = await messages.get()
            except TimeoutError:
                continue
            if message[0] == "done":
                return message[1]
            if message[0] == "error":
                log.info("job %s (%s) error in worker:\n%s", job.id, job.kind, message[2])
                raise JobFailed(message[1])
            if message[0] == "eof":
                raise JobFailed(await messages.death())
            if message[0] == "progress" and time.monotonic() - saved_at >= 1.0:
                saved_at = time.monotonic()
                progress = min(int(message[1]), 99)
                await Job.filter(id=job.id, node=self.node).update(progress=progress)

    async def _keep_alive(self, job: Job) -> None:
        """Refresh the job's heartbeat while it runs (also while it waits for its model)."""
        while True:
            await asyncio.sleep(max(self.stale_after / 4, 0.5))
            with contextlib.suppress(Exception):
                await Job.filter(id=job.id, node=self.node).update(heartbeat_at=now())

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
            "models": self.model_status(),
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


@contextlib.asynccontextmanager
async def _child_process(job: Job, target: str, workdir: Path) -> AsyncIterator[PipeMessages]:
    """A fresh process for one job: a timeout can kill it, a crash cannot take the node down."""
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=child.main,
        args=(target, job.params, str(workdir), sender, os.getpid()),
        name=f"job-{job.id}",
        daemon=True,
    )
    await asyncio.to_thread(process.start)
    sender.close()
    messages = PipeMessages(receiver, process)
    try:
        yield messages
    finally:
        messages.close()
        if process.is_alive():
            process.kill()
        await asyncio.to_thread(process.join, 5)


def _clean_scratch(scratch: Path, keep: set[str]) -> None:
    for path in scratch.glob("job-*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)
    day_ago = time.time() - 86400
    for path in scratch.glob("upload-*"):
        if path.stat().st_mtime < day_ago:  # another node may be receiving it right now
            path.unlink(missing_ok=True)
