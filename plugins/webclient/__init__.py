"""Web client: the browser meeting app at `/` and the JavaScript SDK at `/sdk/`.

Static files only (no build step): the app is plain HTML, CSS and an ES module that uses the SDK,
which talks to the public REST API and /ws/signaling like any other client.
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.webclient.routes import bp

    register(bp)
