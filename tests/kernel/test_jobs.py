"""Long jobs: child processes, progress, failures, timeouts, crash recovery, several nodes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kernel.api import Job, JobStatus, hookimpl
from kernel.app import create_app
from kernel.plugins import PluginError

# The job functions run in spawned child processes, which import them by module name: they live
# in a module written to the test's directory and put on sys.path (children inherit sys.path).
JOB_MODULE = textwrap.dedent(
    """
    import os, time

    def double(params, workdir, progress):
        for step in range(5):
            progress(step * 25)
            time.sleep(0.05)
        (workdir / "out.txt").write_text(str(params["n"] * 2))
        return {"value": params["n"] * 2}

    def refuse(params, workdir, progress):
        raise ValueError("n must be even")

    def die(params, workdir, progress):
        os._exit(3)

    def hang(params, workdir, progress):
        with open(params["pid_file"], "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(600)
    """
)


@pytest.fixture
def job_module(importable) -> str:
    return importable(JOB_MODULE)


class JobsPlugin:
    plugin_name = "jobs-test"

    def __init__(self, module: str) -> None:
        self.module = module
        self.finished: list[tuple[int, dict, list[str]]] = []

    @hookimpl
    def register_job_types(self, register: Any) -> None:
        async def finish(job: Job, result: dict, workdir: Path) -> dict:
            names = sorted(await asyncio.to_thread(os.listdir, workdir))
            self.finished.append((job.id, result, names))
            stored = await asyncio.to_thread((workdir / "out.txt").read_text)
            return {**result, "stored": stored}

        register("test.double", f"{self.module}:double", finish=finish)
        register("test.refuse", f"{self.module}:refuse")
        register("test.die", f"{self.module}:die")
        register("test.hang", f"{self.module}:hang", timeout=600)


async def wait_for(job_id: int, *statuses: JobStatus, seconds: float = 30) -> Job:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        job = await Job.get(id=job_id)
        if job.status in statuses:
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job {job_id} still {job.status}")
        await asyncio.sleep(0.05)


def jobs_of(client: Any) -> Any:
    return client.app.extensions["platform"].jobs


async def test_a_job_runs_in_a_child_process_and_finishes_in_the_server(
    make_client: Any, job_module: str, recorder: Any
) -> None:
    plugin = JobsPlugin(job_module)
    async with make_client(extra_plugins=[plugin, recorder]) as client:
        jobs = jobs_of(client)
        job = await jobs.submit("test.double", user_id=7, params={"n": 21})
        assert job.status == JobStatus.PENDING
        done = await wait_for(job.id, JobStatus.COMPLETED, JobStatus.FAILED)
        assert done.status == JobStatus.COMPLETED, done.error
        assert done.progress == 100
        assert done.result == {"value": 42, "stored": "42"}
        assert done.started_at and done.completed_at and done.attempts == 1
        assert plugin.finished == [(job.id, {"value": 42}, ["out.txt"])]
        assert not jobs.workdir(done).exists()
        assert recorder.named("job.completed") == [
            {"job_id": job.id, "kind": "test.double", "user_id": 7, "result": done.result}
        ]


@pytest.mark.parametrize(
    ("kind", "error"),
    [("test.refuse", "n must be even"), ("test.die", "the worker process died (exit code 3)")],
)
async def test_a_failing_or_crashing_job_is_failed_with_its_reason(
    make_client: Any, job_module: str, recorder: Any, kind: str, error: str
) -> None:
    async with make_client(extra_plugins=[JobsPlugin(job_module), recorder]) as client:
        job = await jobs_of(client).submit(kind, user_id=1, params={})
        done = await wait_for(job.id, JobStatus.COMPLETED, JobStatus.FAILED)
        assert (done.status, done.error) == (JobStatus.FAILED, error)
        assert recorder.named("job.failed")[0]["error"] == error


async def test_a_job_past_its_time_limit_is_killed_and_failed(
    make_client: Any, job_module: str, tmp_path: Path
) -> None:
    async with make_client(extra_plugins=[JobsPlugin(job_module)]) as client:
        pid_file = tmp_path / "hang.pid"
        job = await jobs_of(client).submit(
            "test.hang", user_id=1, params={"pid_file": str(pid_file)}, time_limit=2
        )
        done = await wait_for(job.id, JobStatus.COMPLETED, JobStatus.FAILED)
        assert (done.status, done.error) == (JobStatus.FAILED, "timed out after 2 s")
        pid = int(pid_file.read_text())
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_shutdown_hands_running_jobs_back(
    make_client: Any, job_module: str, tmp_path: Path
) -> None:
    pid_file = tmp_path / "hang.pid"
    async with make_client(extra_plugins=[JobsPlugin(job_module)]) as client:
        params = {"pid_file": str(pid_file)}
        job = await jobs_of(client).submit("test.hang", user_id=1, params=params)
        await wait_for(job.id, JobStatus.PROCESSING)
        for _ in range(200):  # the child writes its pid once it runs
            if pid_file.exists():
                break
            await asyncio.sleep(0.05)
    async with make_client():  # same database, no job types: just look
        job = await Job.get(id=job.id)
        assert (job.status, job.attempts, job.node) == (JobStatus.PENDING, 0, None)
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_jobs_interrupted_by_a_crash_are_retried_or_failed_at_start(
    make_client: Any, job_module: str, recorder: Any
) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    async with make_client():
        retry = await Job.create(
            kind="test.double", user_id=1, params={"n": 2}, timeout=60, attempts=1,
            status=JobStatus.PROCESSING, node="dead-node", heartbeat_at=long_ago,
        )  # fmt: skip
        give_up = await Job.create(
            kind="test.double", user_id=1, params={"n": 3}, timeout=60, attempts=2,
            status=JobStatus.PROCESSING, node="dead-node", heartbeat_at=long_ago,
        )  # fmt: skip
        waiting = await Job.create(kind="test.double", user_id=1, params={"n": 4}, timeout=60)
    async with make_client(extra_plugins=[JobsPlugin(job_module), recorder]):
        done = await wait_for(retry.id, JobStatus.COMPLETED, JobStatus.FAILED)
        assert (done.status, done.attempts, done.result["value"]) == (JobStatus.COMPLETED, 2, 4)
        failed = await Job.get(id=give_up.id)
        assert failed.status == JobStatus.FAILED
        assert failed.error == "interrupted: node dead-node stopped while running it (2 tries)"
        # A job still waiting when the last server stopped is not forgotten either.
        done = await wait_for(waiting.id, JobStatus.COMPLETED, JobStatus.FAILED)
        assert done.result["value"] == 8


def test_job_registrations_are_checked(settings_for: Any) -> None:
    class Duplicate:
        plugin_name = "dup"

        @hookimpl
        def register_job_types(self, register: Any) -> None:
            register("x.y", "json:dumps")
            register("x.y", "json:dumps")

    class Local:
        plugin_name = "local"

        @hookimpl
        def register_job_types(self, register: Any) -> None:
            register("x.z", lambda params, workdir, progress: None)

    with pytest.raises(PluginError, match=r"'dup': register_job_types: job kind 'x\.y' is regis"):
        create_app(settings_for(), plugins=[Duplicate()])
    with pytest.raises(PluginError, match="must be a module-level function"):
        create_app(settings_for(), plugins=[Local()])


WORKER_NODE = textwrap.dedent(
    """
    import asyncio, json, sys
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from kernel.api import hookimpl
    from kernel.app import create_app

    module, settings = sys.argv[1], json.loads(sys.argv[2])

    class Jobs:
        plugin_name = "jobs-test"

        @hookimpl
        def register_job_types(self, register):
            register("test.double", f"{module}:double")

    if __name__ == "__main__":  # job processes are spawned and import this module again
        config = Config()
        config.bind = ["127.0.0.1:0"]
        asyncio.run(serve(create_app(settings, plugins=[Jobs()]), config))
    """
)


@pytest.mark.services
async def test_any_node_takes_jobs_through_redis(
    make_client: Any,
    settings_for: Any,
    job_module: str,
    postgres_url: str,
    redis_url: str,
    tmp_path: Path,
) -> None:
    """A node without workers queues; a worker node in another process takes the jobs."""
    shared = {"database_url": postgres_url, "redis_url": redis_url}
    script = tmp_path / "worker_node.py"
    script.write_text(WORKER_NODE)
    worker_settings = settings_for(node_name="worker", data_dir=str(tmp_path / "w"), **shared)
    front = make_client(
        extra_plugins=[JobsPlugin(job_module)], node_name="front", jobs={"workers": 0}, **shared
    )
    async with front as client:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, str(script), job_module, json.dumps(worker_settings),
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )  # fmt: skip
        try:
            submitted = [
                await jobs_of(client).submit("test.double", user_id=1, params={"n": n})
                for n in range(4)
            ]
            for job in submitted:
                done = await wait_for(job.id, JobStatus.COMPLETED, JobStatus.FAILED)
                assert (done.status, done.node, done.result) == (
                    JobStatus.COMPLETED,
                    "worker",
                    {"value": job.params["n"] * 2},
                )
        finally:
            worker.terminate()
            await worker.wait()
