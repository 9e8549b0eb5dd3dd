"""Model hosts: a model loads once in a long-lived process, serves jobs, and unloads on request."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import textwrap
from pathlib import Path
from typing import Any

import pytest

from kernel.api import HostFailed, Job, JobNode, JobStatus, hookimpl, publish
from kernel.app import create_app
from kernel.plugins import PluginError

# Imported by name in the spawned host processes (children inherit sys.path).
MODEL_MODULE = textwrap.dedent(
    """
    import json, os, time

    def load(path):
        with open(path) as handle:
            config = json.load(handle)
        return {"factor": config["factor"], "pid": os.getpid(), "ballast": bytearray(32 << 20)}

    def multiply(model, params, workdir, progress):
        if params.get("sleep"):
            time.sleep(params["sleep"])
        if params.get("refuse"):
            raise ValueError("refused: " + params["refuse"])
        progress(50)
        return {"value": params["n"] * model["factor"], "pid": model["pid"]}
    """
)


@pytest.fixture
def model_module(importable) -> str:
    return importable(MODEL_MODULE)


class ModelPlugin:
    plugin_name = "model-test"

    def __init__(self, module: str, path: Path) -> None:
        self.module = module
        self.path = path

    @hookimpl
    def register_ai_models(self, register: Any) -> None:
        register(
            "multiplier",
            task="arithmetic",
            engine="test",
            path=str(self.path),
            load=f"{self.module}:load",
        )

    @hookimpl
    def register_job_types(self, register: Any) -> None:
        register("test.multiply", f"{self.module}:multiply", model="multiplier", timeout=60)


async def run_job(jobs: Any, time_limit: int | None = None, **params: Any) -> Job:
    job = await jobs.submit("test.multiply", user_id=1, params=params, time_limit=time_limit)
    return await jobs.wait(job, 60)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "multiplier.json"
    path.write_text(json.dumps({"factor": 3}))
    return path


async def test_a_model_loads_once_and_serves_every_job_until_unloaded(
    make_client: Any, model_module: str, model_file: Path
) -> None:
    async with make_client(extra_plugins=[ModelPlugin(model_module, model_file)]) as client:
        jobs = client.app.extensions["platform"].jobs
        assert jobs.model_status()["multiplier"]["status"] == "unloaded"  # lazily, not at start
        first = await run_job(jobs, n=2)
        second = await run_job(jobs, n=5)
        assert (first.status, first.result["value"]) == (JobStatus.COMPLETED, 6)
        assert second.result["value"] == 15
        pid = first.result["pid"]
        assert second.result["pid"] == pid != os.getpid()  # one host process, loaded once

        status = jobs.model_status()["multiplier"]
        assert status["status"] == "loaded" and status["jobs_run"] == 2
        assert status["memory_bytes"] > 32 << 20  # the ballast the model holds
        assert status["last_used_at"] and status["path"] == str(model_file)
        node = await JobNode.get(name=jobs.node)
        assert node.models["multiplier"]["status"] == "loaded"

        await jobs.unload_model("multiplier")
        assert gone(pid)
        assert jobs.model_status()["multiplier"]["status"] == "unloaded"
        assert jobs.model_status()["multiplier"]["memory_bytes"] is None
        await asyncio.sleep(0.1)  # the row follows the change
        assert (await JobNode.get(name=jobs.node)).models["multiplier"]["status"] == "unloaded"

        again = await run_job(jobs, n=1)  # loaded again on demand, in a new process
        assert again.result["value"] == 3 and again.result["pid"] != pid


async def test_a_failing_job_keeps_the_model_but_a_timeout_ends_its_host(
    make_client: Any, model_module: str, model_file: Path
) -> None:
    async with make_client(extra_plugins=[ModelPlugin(model_module, model_file)]) as client:
        jobs = client.app.extensions["platform"].jobs
        pid = (await run_job(jobs, n=1)).result["pid"]
        refused = await run_job(jobs, n=1, refuse="odd")
        assert (refused.status, refused.error) == (JobStatus.FAILED, "refused: odd")
        assert (await run_job(jobs, n=1)).result["pid"] == pid  # still the same host

        slow = await run_job(jobs, time_limit=1, n=1, sleep=30)
        assert (slow.status, slow.error) == (JobStatus.FAILED, "timed out after 1 s")
        assert gone(pid)
        assert jobs.model_status()["multiplier"]["status"] == "unloaded"
        assert (await run_job(jobs, n=4)).result["value"] == 12


async def test_a_model_that_cannot_load_fails_its_jobs_with_the_reason(
    make_client: Any, model_module: str, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.json"
    async with make_client(extra_plugins=[ModelPlugin(model_module, missing)]) as client:
        jobs = client.app.extensions["platform"].jobs
        job = await run_job(jobs, n=1)
        assert job.status == JobStatus.FAILED
        assert f"model multiplier: loading {missing}:" in job.error
        assert "No such file or directory" in job.error
        status = jobs.model_status()["multiplier"]
        assert status["status"] == "failed" and str(missing) in status["error"]
        with pytest.raises(HostFailed, match="No such file"):
            await jobs.load_model("multiplier")

        missing.write_text(json.dumps({"factor": 7}))  # the operator fixes the path
        await jobs.load_model("multiplier")
        assert jobs.model_status()["multiplier"]["status"] == "loaded"
        assert jobs.model_status()["multiplier"]["error"] is None
        assert (await run_job(jobs, n=1)).result["value"] == 7


async def test_a_load_event_loads_the_model_on_nodes_that_run_its_jobs(
    make_client: Any, model_module: str, model_file: Path
) -> None:
    async with make_client(extra_plugins=[ModelPlugin(model_module, model_file)]) as client:
        jobs = client.app.extensions["platform"].jobs
        async with client.app.app_context():
            await publish("models.load", model_id="multiplier", node="some-other-node")
            await asyncio.sleep(0.3)
            assert jobs.model_status()["multiplier"]["status"] == "unloaded"  # not for us
            await publish("models.load", model_id="multiplier")
            for _ in range(200):
                if jobs.model_status()["multiplier"]["status"] == "loaded":
                    break
                await asyncio.sleep(0.05)
            assert jobs.model_status()["multiplier"]["status"] == "loaded"
            await publish("models.unload", model_id="multiplier")
            for _ in range(200):
                if jobs.model_status()["multiplier"]["status"] == "unloaded":
                    break
                await asyncio.sleep(0.05)
            assert jobs.model_status()["multiplier"]["status"] == "unloaded"


def test_model_registrations_are_checked(settings_for: Any, model_module: str) -> None:
    class UnknownModel:
        plugin_name = "bad-model"

        @hookimpl
        def register_job_types(self, register: Any) -> None:
            register("test.x", f"{model_module}:multiply", model="nope")

    with pytest.raises(PluginError, match=r"bad-model.*model 'nope' is not registered"):
        create_app(settings_for(), plugins=[UnknownModel()])

    class BadId:
        plugin_name = "bad-id"

        @hookimpl
        def register_ai_models(self, register: Any) -> None:
            register("a/b", task="t", engine="e", path="p", load=f"{model_module}:load")

    with pytest.raises(PluginError, match=r"bad-id.*model id 'a/b'"):
        create_app(settings_for(), plugins=[BadId()])


async def test_a_health_check_runs_a_tiny_inference_in_each_loaded_model(
    make_client: Any, model_module: str, model_file: Path
) -> None:
    async with make_client(extra_plugins=[ModelPlugin(model_module, model_file)]) as client:
        jobs = client.app.extensions["platform"].jobs
        await jobs.check_models()
        assert jobs.model_status()["multiplier"]["check"] is None  # not loaded: not loaded for it
        await jobs.load_model("multiplier")
        await jobs.check_models()
        check = jobs.model_status()["multiplier"]["check"]
        assert check["ok"] is True and check["error"] is None and check["seconds"] >= 0
        assert jobs.model_status()["multiplier"]["jobs_run"] == 0  # a check is not a job

        # Alive but not answering:
        os.kill(jobs.hosts["multiplier"]._process.pid, signal.SIGSTOP)
        await jobs.check_models(seconds=1)
        check = jobs.model_status()["multiplier"]["check"]
        assert (check["ok"], check["error"]) == (False, "no answer within 1 s")
        assert jobs.model_status()["multiplier"]["status"] == "unloaded"  # its host was ended
