"""AI models (72-75): the real PocketSphinx model, loaded once in its host, listed, unloaded."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

HELLO = Path(__file__).parents[2] / "data" / "hello_world.wav"
PLUGINS = ["users", "meetings", "media", "speech", "pocketsphinx", "models"]
MODEL = "pocketsphinx-en-us"


async def model(client: Any, headers: dict) -> dict:
    response = await client.get(f"/api/v1/models/{MODEL}/status", headers=headers)
    assert response.status_code == 200, await response.get_data()
    return (await response.get_json())["data"]


async def test_admins_load_and_unload_a_model_that_jobs_then_share(
    make_client: Any, people_of: Any
) -> None:
    async with make_client(plugins={"enabled": PLUGINS}) as client:
        people = people_of(client)
        _, ann = await people.add("ann")
        _, root = await people.add("root", admin=True)
        node = client.app.extensions["platform"].node

        listed = await client.get("/api/v1/models", headers=root)
        [entry] = (await listed.get_json())["data"]["models"]
        assert (entry["model_id"], entry["task"], entry["engine"]) == (
            MODEL,
            "recognition",
            "pocketsphinx",
        )
        assert entry["status"] == "unloaded" and entry["loaded"] is False  # lazily
        assert entry["path"].endswith("en-us") and entry["languages"] == ["en"]
        assert [n["node_id"] for n in entry["nodes"]] == [node]
        assert (await model(client, ann))["path"] is None  # where files live: admins only

        assert (await client.post(f"/api/v1/models/{MODEL}/load", headers=ann)).status_code == 403
        loaded = await client.post(f"/api/v1/models/{MODEL}/load", headers=root)
        data = (await loaded.get_json())["data"]
        assert (data["status"], data["loaded"], data["node"]) == ("loaded", True, node)
        assert data["memory_bytes"] > 10 << 20 and data["nodes"][0]["load_seconds"] > 0
        assert data["last_used_at"] is None

        audio = base64.b64encode(HELLO.read_bytes()).decode()
        for _ in range(2):
            heard = await client.post(
                "/api/v1/speech/recognition", headers=ann, json={"audio_data": audio}
            )
            assert (await heard.get_json())["data"]["text"] == "hello world"
        used = await model(client, root)
        assert used["nodes"][0]["jobs_run"] == 2  # both in the host loaded above
        assert used["nodes"][0]["loaded_at"] == data["nodes"][0]["loaded_at"]
        assert used["last_used_at"] is not None

        unloaded = await client.delete(f"/api/v1/models/{MODEL}/unload", headers=root)
        data = (await unloaded.get_json())["data"]
        assert (data["status"], data["loaded"], data["memory_bytes"]) == ("unloaded", False, None)


async def test_unknown_models_and_nodes_are_named_in_the_error(
    make_client: Any, people_of: Any
) -> None:
    async with make_client(plugins={"enabled": PLUGINS}) as client:
        _, root = await people_of(client).add("root", admin=True)
        response = await client.get("/api/v1/models/nope/status", headers=root)
        assert response.status_code == 404 and "nope" in (await response.get_json())["message"]
        response = await client.post(f"/api/v1/models/{MODEL}/load?node_id=elsewhere", headers=root)
        body = await response.get_json()
        assert response.status_code == 404 and body["message"].startswith("node_id:")
        assert (await client.get("/api/v1/models")).status_code == 401


async def test_a_node_that_runs_no_jobs_cannot_load(make_client: Any, people_of: Any) -> None:
    async with make_client(plugins={"enabled": PLUGINS}, jobs={"workers": 0}) as client:
        _, root = await people_of(client).add("root", admin=True)
        entry = await model(client, root)
        assert entry["status"] == "unavailable" and entry["nodes"] == []
        response = await client.post(f"/api/v1/models/{MODEL}/load", headers=root)
        body = await response.get_json()
        assert (response.status_code, body["code"]) == (503, 4001)
        assert "platform ai-node" in body["message"]
