"""The kernel's own hook implementations, registered exactly like a plugin's."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kernel.hookspecs import hookimpl

mail_log = logging.getLogger("platform.mail")


@hookimpl
def register_models(register: Any) -> None:
    register(models="kernel.auth.models", migrations="kernel.migrations", label="kernel")
    register(models="kernel.jobs.models", migrations="kernel.jobs.migrations", label="kernel_jobs")


@hookimpl
def register_blueprints(register: Any) -> None:
    from kernel.auth.routes import bp as auth_bp
    from kernel.introspection import bp as introspection_bp

    register(auth_bp)
    register(introspection_bp)


@hookimpl(trylast=True)
def send_mail(to: str, subject: str, body: str) -> bool:
    """Default mail sink: the log. A mail plugin (SMTP, an API) replaces it by answering first."""
    mail_log.info("mail to %s: %s\n%s", to, subject, body)
    return True


@hookimpl(trylast=True)
def storage_backend(settings: Any) -> Any:
    """Default storage: a local directory (`storage.root`, else `<data_dir>/media`)."""
    from kernel.storage import LocalStorage

    root = settings.get("storage.root") or Path(settings.get("data_dir") or "./data") / "media"
    return LocalStorage(Path(root))


@hookimpl
async def on_event(event: Any) -> None:
    """Job ends (wake waiters), health checks and model load/unload for this node's jobs."""
    from kernel.api import get_platform

    if event.name in ("job.completed", "job.failed"):
        get_platform().jobs.job_ended(int(event.data.get("job_id") or 0))
    elif event.name == "jobs.health_check":
        platform = get_platform()
        if event.data.get("node") == platform.node and platform.jobs.types:
            await platform.jobs.check_models()
            await platform.jobs.heartbeat(checked=True)
    elif event.name in ("models.load", "models.unload"):
        # Every node that runs the model's jobs acts, or only the one the admin named.
        platform = get_platform()
        if event.data.get("node") in (None, platform.node):
            platform.jobs.change_model_soon(
                str(event.data.get("model_id")), load=event.name == "models.load"
            )
