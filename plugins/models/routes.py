"""/api/v1/models (endpoints 72-75): thin handlers over the service."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import (
    current_user,
    ok,
    rate_limit,
    require_auth,
    require_role,
    responds,
    validate_querystring,
)
from plugins.models import schemas as s
from plugins.models import service

bp = Blueprint("models", __name__, url_prefix="/api/v1/models")


@bp.get("")
@rate_limit("high")
@require_auth
@responds(s.ModelList)
async def list_models():
    """Every AI model on the online nodes: task, engine, loaded or not, memory, last use."""
    models = await service.catalogue(current_user().role == "admin")
    return ok({"models": models, "total": len(models)})


@bp.get("/<model_id>/status")
@rate_limit("high")
@require_auth
@responds(s.ModelOut)
async def status(model_id: str):
    """One model, with its state on each node."""
    return ok(await service.entry(model_id, current_user().role == "admin"))


@bp.post("/<model_id>/load")
@rate_limit("ai")
@require_role("admin")
@validate_querystring(s.ChangeIn)
@responds(s.ModelOut)
async def load(model_id: str, query_args: s.ChangeIn):
    """Load on every node that runs it (or `?node_id=`); waits up to `models.wait` seconds,
    then answers the state so far (`loading`: poll the status)."""
    entry = await service.change(model_id, query_args.node_id, load=True)
    return ok(entry, "model loaded" if entry["loaded"] else "model load requested")


@bp.delete("/<model_id>/unload")
@rate_limit("ai")
@require_role("admin")
@validate_querystring(s.ChangeIn)
@responds(s.ModelOut)
async def unload(model_id: str, query_args: s.ChangeIn):
    """Unload (end its host process) on every node, or on `?node_id=`, after a running job."""
    return ok(await service.change(model_id, query_args.node_id, load=False), "model unloaded")
