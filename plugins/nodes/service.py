"""Nodes that run jobs (servers with workers, `platform worker` / `platform ai-node`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from kernel.api import ApiError, Job, JobNode, JobStatus, get_platform, iso, publish


def now() -> datetime:
    return datetime.now(UTC)


def stale_after() -> float:
    return float(get_platform().settings.get("jobs.stale_after", 60))


def status_of(node: JobNode) -> str:
    return node.state(stale_after())


async def shape(node: JobNode) -> dict[str, Any]:
    done = await Job.filter(node=node.name, status=JobStatus.COMPLETED).count()
    failed = await Job.filter(node=node.name, status=JobStatus.FAILED).count()
    return {
        "node_id": node.name,
        "status": status_of(node),
        "kinds": node.kinds,
        "workers": node.workers,
        "running_jobs": node.running,
        "models": {name: info.get("status") for name, info in (node.models or {}).items()},
        "completed_jobs": done,
        "failed_jobs": failed,
        "host": node.host,
        "pid": node.pid,
        "started_at": iso(node.started_at),
        "last_heartbeat": iso(node.heartbeat_at),
        "last_health_check": iso(node.checked_at),
    }


async def get(node_id: str) -> JobNode:
    node = await JobNode.get_or_none(name=node_id)
    if node is None:
        raise ApiError(404, f"node {node_id!r} not found")
    return node


async def health_check(node_id: str, seconds: float = 5) -> dict[str, Any]:
    """Ask the node to answer now (through the event bus); healthy if it does in time."""
    node = await get(node_id)
    asked = now()
    await publish("jobs.health_check", node=node.name)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        node = await get(node_id)
        if node.checked_at is not None and node.checked_at >= asked:
            answered = (node.checked_at - asked).total_seconds()
            checks = {
                model_id: info["check"]
                for model_id, info in (node.models or {}).items()
                if info.get("check")
            }
            failed = [f"{m}: {c['error']}" for m, c in checks.items() if not c.get("ok")]
            result = {
                "node_id": node.name,
                "healthy": not failed,
                "response_time": round(answered, 3),
                "models": checks,  # a tiny inference in each loaded model
            }
            if failed:
                result["reason"] = "; ".join(failed)
            return result
        await asyncio.sleep(0.1)
    return {
        "node_id": node.name,
        "healthy": False,
        "response_time": None,
        "reason": f"no answer within {seconds:g} s (last heartbeat {iso(node.heartbeat_at)})",
    }
