"""Hooks the meetings plugin calls: a recording plugin implements the recording ones
(endpoints 30-32); any plugin may check the settings it honours."""

from __future__ import annotations

from typing import Any

from kernel.api import hookspec


@hookspec(firstresult=True)
def meeting_recording_start(meeting_id: int, user_id: int, options: dict) -> Any:
    """Start recording the meeting; return {"recording_id": ...} (may be async)."""


@hookspec(firstresult=True)
def meeting_recording_stop(meeting_id: int, user_id: int) -> Any:
    """Stop the meeting's active recording; return its description (may be async)."""


@hookspec(firstresult=True)
def meeting_recordings(meeting_id: int) -> Any:
    """Return the meeting's recordings as a list of dicts (may be async)."""


@hookspec
def meeting_settings_check(settings: dict, given: dict) -> Any:
    """Refuse settings this plugin cannot honour: raise ApiError(422, "settings.<name>: ...").

    `settings` is the meeting's whole new settings, `given` what this request set (create or
    update); check only what was given, so unrelated edits never fail. May be async.
    """
