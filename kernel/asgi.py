"""An ASGI entry point for process managers: `hypercorn kernel.asgi:app` (settings from the env)."""

from kernel.app import create_app

app = create_app()
