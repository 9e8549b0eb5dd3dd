"""The models of every online node, merged per model id, and load/unload requests to them.

The truth about a model on a node is in that node's heartbeat row (`JobNode.models`), written
by the kernel whenever a model's state changes; a load or unload is an event that every node
running the model's jobs acts on (or only the named node), so it works across machines.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from kernel.api import ApiError, JobNode, get_platform, publish

AI_UNAVAILABLE = 4001
AI_FAILED = 4002
NODE_FIELDS = (
    "memory_bytes",
    "loaded_at",
    "last_used_at",
    "load_seconds",
    "jobs_run",
    "error",
    "changed_at",
)
RANK = ("loaded", "loading", "failed", "unloaded")


def setting(name: str, default: float) -> float:
    return float(get_platform().settings.get(f"models.{name}", default))


async def nodes_running_models() -> list[JobNode]:
    """Online nodes that take jobs: only they keep models."""
    stale_after = float(get_platform().settings.get("jobs.stale_after", 60))
    nodes = await JobNode.filter(workers__gt=0).order_by("name")
    return [node for node in nodes if node.state(stale_after) == "online"]


async def catalogue(admin: bool) -> list[dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for node in await nodes_running_models():
        for model_id, info in sorted((node.models or {}).items()):
            entry = entries.setdefault(model_id, _describe(model_id, info, admin))
            entry["nodes"].append(
                {"node_id": node.name, "status": info.get("status", "unloaded")}
                | {name: info.get(name) for name in NODE_FIELDS}
            )
    # Registered here but run by no online node (e.g. a server that only queues jobs).
    for model_id, info in get_platform().jobs.model_status().items():
        entries.setdefault(model_id, _describe(model_id, info, admin))
    return [_summarise(entries[model_id]) for model_id in sorted(entries)]


def _describe(model_id: str, info: dict[str, Any], admin: bool) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "task": info.get("task", ""),
        "engine": info.get("engine", ""),
        "path": info.get("path") if admin else None,
        "languages": info.get("languages"),
        "nodes": [],
    }


def _summarise(entry: dict[str, Any]) -> dict[str, Any]:
    nodes = entry["nodes"]
    states = {node["status"] for node in nodes}
    status = next((state for state in RANK if state in states), "unavailable")
    loaded = [node for node in nodes if node["status"] == "loaded"]
    used = [node["last_used_at"] for node in nodes if node["last_used_at"]]
    errors = [node["error"] for node in nodes if node["error"]]
    memory = [node["memory_bytes"] for node in loaded if node["memory_bytes"]]
    return {
        **entry,
        "status": status,
        "loaded": status == "loaded",
        "memory_bytes": sum(memory) if memory else None,
        "last_used_at": max(used) if used else None,
        "node": loaded[0]["node_id"] if loaded else None,
        "error": errors[0] if errors else None,
    }


async def entry(model_id: str, admin: bool = True) -> dict[str, Any]:
    for found in await catalogue(admin):
        if found["model_id"] == model_id:
            return found
    raise ApiError(404, f"model {model_id!r} not found")


async def change(model_id: str, node_id: str | None, *, load: bool) -> dict[str, Any]:
    """Ask the nodes to load or unload; wait (up to `models.wait` s) until they have."""
    current = await entry(model_id)
    targets = [n["node_id"] for n in current["nodes"] if node_id in (None, n["node_id"])]
    if node_id is not None and not targets:
        raise ApiError(404, f"node_id: node {node_id!r} does not run model {model_id!r}")
    if not targets:
        raise ApiError(
            503,
            f"no online node runs model {model_id!r} (start a worker: platform ai-node)",
            AI_UNAVAILABLE,
        )
    asked = datetime.now(UTC).isoformat()
    await publish("models.load" if load else "models.unload", model_id=model_id, node=node_id)
    wanted = ("loaded",) if load else ("unloaded", "failed")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + setting("wait", 60)
    while True:
        current = await entry(model_id)
        mine = [n for n in current["nodes"] if n["node_id"] in targets]
        if load and all(_failed_since(n, asked) for n in mine):
            raise ApiError(422, f"model {model_id}: {mine[0]['error']}", AI_FAILED)
        settled = [n for n in mine if n["status"] in wanted or (load and _failed_since(n, asked))]
        if len(settled) == len(mine) or loop.time() > deadline:
            return current
        await asyncio.sleep(0.1)


def _failed_since(node: dict[str, Any], asked: str) -> bool:
    # A failure older than the request is the last attempt's, not this one's.
    return node["status"] == "failed" and (node.get("changed_at") or asked) >= asked
