"""Request and response schemas of /api/v1/example (validation and the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from kernel.api import Out, Schema


class NoteIn(Schema):
    text: str = Field(min_length=1, max_length=2000)


class NoteOut(Out):
    note_id: int
    text: str
    created_at: datetime


class NotesPage(Out):
    notes: list[NoteOut]
    total: int
    page: int
    page_size: int
