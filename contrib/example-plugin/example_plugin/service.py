"""The example plugin's logic, callable without HTTP: routes, tests, CLI commands, other plugins."""

from __future__ import annotations

from collections import Counter
from typing import Any

from example_plugin.models import Note
from kernel.api import iso

# Events seen by this process's on_event hook, by name. In-memory state is per process (one node):
# anything that must survive a restart or be shared by nodes belongs in the database.
events_seen: Counter[str] = Counter()
latest_events: dict[str, Any] = {}


def record_event(event: Any) -> None:
    """Count an event (the on_event hook calls this for every published event)."""
    events_seen[event.name] += 1
    latest_events[event.name] = event


async def create_note(user_id: int, text: str) -> Note:
    return await Note.create(user_id=user_id, text=text)


async def list_notes(user_id: int, page: int = 1, page_size: int = 20) -> tuple[list[Note], int]:
    """One page of the user's notes, newest first, and how many there are in all."""
    query = Note.filter(user_id=user_id)
    total = await query.count()
    notes = (
        await query.order_by("-created_at", "-id").offset((page - 1) * page_size).limit(page_size)
    )
    return notes, total


def note_dict(note: Note) -> dict[str, Any]:
    return {"note_id": note.id, "text": note.text, "created_at": iso(note.created_at)}
