"""My meetings (endpoints 35-37): what the caller created or takes part in."""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl

requires = ("meetings",)


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.my_meetings.routes import bp

    register(bp)
