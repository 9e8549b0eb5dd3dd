"""Two real nodes: a recording started on one is stopped through the other."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest


@pytest.mark.services
async def test_stop_on_another_node_reaches_the_recording_node(
    postgres_url: str, redis_url: str, start_server: Any, call_env: dict, call_on: Any
) -> None:
    shared = {"PLATFORM_DATABASE_URL": postgres_url, "PLATFORM_REDIS_URL": redis_url}
    node_a = start_server(PLATFORM_NODE_NAME="node-a", **shared, **call_env)
    node_b = start_server(
        PLATFORM_NODE_NAME="node-b", PLATFORM_DATABASE__AUTO_UPGRADE="false", **shared, **call_env
    )
    meeting = call_on(node_a.url)
    host = await meeting.person("hana")
    meeting_id = await meeting.create("hana")
    client = meeting.client("hana", 440.0, (200, 30, 30))
    await client.start()
    try:
        started = await meeting.http.post(
            "/api/v1/recording/start", headers=host, json={"meeting_id": meeting_id}
        )
        recording_id = started.json()["data"]["recording_id"]
        await asyncio.sleep(3)
        async with httpx.AsyncClient(base_url=node_b.url, timeout=30) as other:
            stopped = await other.post(
                "/api/v1/recording/stop", headers=host, json={"recording_id": recording_id}
            )
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["data"]["status"] in ("processing", "completed")
    finally:
        await client.stop()
    done = await meeting.wait_recording("hana", recording_id, "completed", "failed")
    assert done["status"] == "completed", done["error"]
    assert 2 <= done["duration"] <= 6
    await meeting.http.aclose()
