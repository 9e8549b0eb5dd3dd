"""Hooks of the media plugin: processing operations offered through POST /api/v1/media/process."""

from __future__ import annotations

from typing import Any

from kernel.api import hookspec


@hookspec
def register_media_operations(register: Any) -> None:
    """Call `register(name, submit)`; `await submit(user, parameters)` answers {"job_id": ...}.

    `parameters` holds `file_id` and the operation's own fields; invalid ones raise ApiError.
    """
