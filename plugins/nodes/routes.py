"""/api/v1/nodes (endpoints 76-78): the nodes that run jobs, for admins."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import JobNode, ok, rate_limit, require_role
from plugins.nodes import service

bp = Blueprint("nodes", __name__, url_prefix="/api/v1/nodes")


@bp.get("")
@rate_limit("high")
@require_role("admin")
async def list_nodes():
    """Every node that runs jobs: status (online, offline, stopped), what it runs, load."""
    nodes = await JobNode.all().order_by("name")
    return ok({"nodes": [await service.shape(n) for n in nodes], "total": len(nodes)})


@bp.get("/<node_id>/status")
@rate_limit("high")
@require_role("admin")
async def status(node_id: str):
    """One node's status and counters."""
    return ok(await service.shape(await service.get(node_id)))


@bp.post("/<node_id>/health-check")
@rate_limit("general")
@require_role("admin")
async def health_check(node_id: str):
    """Ask the node to answer now; `healthy` false with a reason if it does not in 5 s."""
    return ok(await service.health_check(node_id), "health checked")
