"""AI models (endpoints 72-75): every model the engine plugins register, on every node.

Engines register models with the kernel hook `register_ai_models`; each node that runs their
jobs keeps a model loaded in a long-lived host process (loaded on first use or here by an
admin) and reports it in its heartbeat. This plugin reads those reports, so a model on an AI
node is listed even where the server itself does not have the engine installed.
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.models.routes import bp

    register(bp)
