"""Example plugin: private notes. This module holds the hookimpls and nothing else."""

from __future__ import annotations

from typing import Any

from example_plugin import service
from kernel import hookimpl


@hookimpl
def register_models(register: Any) -> None:
    # The Tortoise app label defaults to the entry-point name: "example".
    register(models="example_plugin.models", migrations="example_plugin.migrations")


@hookimpl
def register_blueprints(register: Any) -> None:
    from example_plugin.routes import bp

    register(bp)


@hookimpl
def on_event(event: Any) -> None:
    service.record_event(event)
