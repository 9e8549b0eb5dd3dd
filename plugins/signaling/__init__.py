"""Signaling: the WebSocket through which clients negotiate calls, chat and media state.

Rooms span nodes through the kernel's event channels (Redis when `redis_url` is set).
Sessions are rows any node can read; a session whose node stops refreshing it is ended by
the others within two heartbeat intervals. Endpoints 38-43.
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl

requires = ("meetings",)


@hookimpl
def register_models(register: Any) -> None:
    register(models="plugins.signaling.models", migrations="plugins.signaling.migrations")


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.signaling.routes import bp

    register(bp)


@hookimpl
def register_websocket_routes(register: Any) -> None:
    from plugins.signaling.routes import signaling_socket

    register("/ws/signaling", signaling_socket)


@hookimpl
async def startup(app: Any) -> None:
    from plugins.signaling.service import Signaling

    state = Signaling(app.extensions["platform"])
    app.extensions["signaling"] = state
    await state.start()


@hookimpl
async def shutdown(app: Any) -> None:
    state = app.extensions.pop("signaling", None)
    if state is not None:
        await state.stop()


@hookimpl
async def on_event(event: Any) -> None:
    from plugins.signaling.service import current

    state = current()
    if state is not None:
        await state.on_event(event)
