"""An AI node: `platform worker` takes the speech jobs a server queues, and reports its health."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

HELLO = Path(__file__).parents[2] / "data" / "hello_world.wav"
PLATFORM = str(Path(sys.executable).parent / "platform")


@pytest.mark.services
async def test_a_worker_node_takes_jobs_and_answers_health_checks(
    make_client: Any, people_of: Any, postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    shared = {"database_url": postgres_url, "redis_url": redis_url}
    plugins = ["users", "meetings", "media", "speech", "pocketsphinx", "nodes", "models"]
    front = make_client(
        plugins={"enabled": plugins}, node_name="front", jobs={"workers": 0}, **shared
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATFORM_")}
    env.update(
        PLATFORM_DATABASE_URL=postgres_url,
        PLATFORM_REDIS_URL=redis_url,
        PLATFORM_DATA_DIR=str(tmp_path / "data"),  # the same storage as the front node
        PLATFORM_NODE_NAME="ai-1",
        PLATFORM_PLUGINS__ENABLED='["users", "meetings", "media", "speech", "pocketsphinx"]',
    )
    async with front as client:
        people = people_of(client)
        _, ann = await people.add("ann")
        _, root = await people.add("root", admin=True)
        worker = await asyncio.create_subprocess_exec(
            PLATFORM, "worker", env=env, cwd=tmp_path, stdout=asyncio.subprocess.PIPE
        )
        try:
            line = (await asyncio.wait_for(worker.stdout.readline(), 60)).decode()
            assert "worker ai-1" in line and "speech.recognition.pocketsphinx" in line

            audio = base64.b64encode(HELLO.read_bytes()).decode()
            response = await client.post(
                "/api/v1/speech/recognition", headers=ann, json={"audio_data": audio}
            )
            assert (await response.get_json())["data"]["text"] == "hello world"

            listed = await client.get("/api/v1/nodes", headers=root)
            nodes = {n["node_id"]: n for n in (await listed.get_json())["data"]["nodes"]}
            assert nodes["ai-1"]["status"] == "online"
            assert nodes["ai-1"]["completed_jobs"] == 1  # it, not the front, did the work
            assert nodes["front"]["workers"] == 0
            assert (await client.get("/api/v1/nodes", headers=ann)).status_code == 403

            check = await client.post("/api/v1/nodes/ai-1/health-check", headers=root)
            assert (await check.get_json())["data"]["healthy"] is True

            # The model stays loaded on the node that ran the job; admins unload and load
            # it there from the front node (an event through Redis to the worker).
            assert nodes["ai-1"]["models"] == {"pocketsphinx-en-us": "loaded"}
            model = "/api/v1/models/pocketsphinx-en-us"
            status = (await (await client.get(f"{model}/status", headers=root)).get_json())["data"]
            assert (status["node"], status["nodes"][0]["jobs_run"]) == ("ai-1", 1)
            assert [n["node_id"] for n in status["nodes"]] == ["ai-1"]  # not the front
            unloaded = await client.delete(f"{model}/unload", headers=root)
            assert (await unloaded.get_json())["data"]["status"] == "unloaded"
            loaded = await client.post(f"{model}/load?node_id=ai-1", headers=root)
            data = (await loaded.get_json())["data"]
            assert (data["status"], data["node"]) == ("loaded", "ai-1")
            assert data["memory_bytes"] > 10 << 20
            # A health check now also runs a tiny inference in the loaded model's host.
            check = await client.post("/api/v1/nodes/ai-1/health-check", headers=root)
            data = (await check.get_json())["data"]
            assert data["healthy"] is True, data
            assert data["models"]["pocketsphinx-en-us"]["ok"] is True
            assert data["models"]["pocketsphinx-en-us"]["seconds"] > 0
        finally:
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), 30)
        assert worker.returncode == 0
        status = await client.get("/api/v1/nodes/ai-1/status", headers=root)
        assert (await status.get_json())["data"]["status"] == "stopped"
        check = await client.post("/api/v1/nodes/ai-1/health-check", headers=root)
        data = (await check.get_json())["data"]
        assert data["healthy"] is False and "no answer" in data["reason"]
        assert (await client.get("/api/v1/nodes/nope/status", headers=root)).status_code == 404
