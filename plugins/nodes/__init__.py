"""Nodes (endpoints 76-78): the servers and workers (`platform worker`, alias `ai-node`) that
run jobs, from the heartbeats the kernel's job service writes; admins only."""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.nodes.routes import bp

    register(bp)
