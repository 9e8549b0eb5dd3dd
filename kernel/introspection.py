"""Operator endpoints: liveness, readiness and the plugin list."""

from __future__ import annotations

import logging

from quart import Blueprint

from kernel import db
from kernel.api import get_platform, ok, require_role
from kernel.errors import error_response

bp = Blueprint("introspection", __name__)
log = logging.getLogger("platform.health")


@bp.get("/healthz")
async def healthz():
    """The process is alive."""
    return ok({"status": "ok"})


@bp.get("/readyz")
async def readyz():
    """The database (and Redis, when configured) answer."""
    platform = get_platform()
    checks: dict[str, str] = {}
    probes = {"database": db.ping}
    if platform.settings.get("redis_url"):
        probes["redis"] = platform.ratelimiter.ping
    for name, probe in probes.items():
        try:
            await probe()
            checks[name] = "ok"
        except Exception as exc:
            log.warning("readiness: %s unreachable: %s", name, exc)
            checks[name] = f"unreachable: {type(exc).__name__}"
    if all(value == "ok" for value in checks.values()):
        return ok({"status": "ready", "checks": checks})
    failed = ", ".join(name for name, value in checks.items() if value != "ok")
    return error_response(503, f"not ready: {failed} unreachable", error={"checks": checks})


@bp.get("/-/plugins")
@require_role("admin")
async def plugins():
    """Installed plugins: version, enabled, loaded, hooks (admin)."""
    return ok({"plugins": get_platform().plugins.plugin_list()})
