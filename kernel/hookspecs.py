"""Every hook the kernel calls. Plugins implement them with `@kernel.hookimpl`.

Collection hooks take a `register` callback, so the kernel can check each registration and name
the plugin in any error. `startup`/`shutdown`/`on_event` may be coroutines.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "meeting_platform"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_models(register: Any) -> None:
    """Call `register(models="pkg.models", migrations="pkg.migrations")` for your models."""


@hookspec
def register_blueprints(register: Any) -> None:
    """Call `register(blueprint)` for each Quart blueprint the plugin serves."""


@hookspec
def register_websocket_routes(register: Any) -> None:
    """Call `register(path, handler)` to serve WebSocket `path` with a raw ASGI handler
    `async def handler(scope, receive, send)`, ahead of Quart (see kernel.websockets)."""


@hookspec
def register_rate_limits(register: Any) -> None:
    """Call `register(name, "10/minute")` to add a rate-limit class (config may override it)."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add sub-commands to the `platform` typer application `cli`."""


@hookspec
def startup(app: Any) -> Any:
    """Called once the database is open and before the first request; may be async."""


@hookspec
def shutdown(app: Any) -> Any:
    """Called when the server stops, before the database closes; may be async."""


@hookspec
def on_event(event: Any) -> Any:
    """Called for every published event (local or from another node); may be async."""


@hookspec
def register_job_types(register: Any, settings: Any) -> None:
    """Call `register(kind, "pkg.module:function", finish=async_fn, timeout=seconds)` per job type.

    The function runs in a child process as `function(params, workdir, progress) -> dict`;
    `finish(job, result, workdir)` runs in the server afterwards (e.g. to store output files).
    With `model=<id>` (see register_ai_models) it runs in that model's long-lived host process
    as `function(model, params, workdir, progress)`, the model loaded once.
    """


@hookspec
def register_ai_models(register: Any, settings: Any) -> None:
    """Call `register(model_id, task=, engine=, path=, load="pkg.module:function", languages=,
    check="pkg.module:function")`.

    `load(path)` runs in the model's host process (on first use or when an admin loads it) and
    answers the loaded model; job types name it with `model=<id>`. `check` is a tiny inference
    run like a job (`check(model, params, workdir, progress)`) by node health checks. Register
    only models whose files are configured in `settings`: nothing is downloaded.
    """


@hookspec(firstresult=True)
def storage_backend(settings: Any) -> Any:
    """Answer the file storage (see kernel.storage.Storage); the first non-None answer wins."""


@hookspec(firstresult=True)
def send_mail(to: str, subject: str, body: str) -> Any:
    """Deliver one e-mail; the first plugin that returns a non-None value handled it."""
