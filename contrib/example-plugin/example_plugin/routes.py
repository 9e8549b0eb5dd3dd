"""/api/v1/example: thin handlers that validate, call the service and shape the envelope."""

from __future__ import annotations

from quart import Blueprint

from example_plugin import service
from example_plugin.schemas import NoteIn, NoteOut, NotesPage
from kernel.api import (
    PageQuery,
    current_user,
    ok,
    publish,
    rate_limit,
    require_auth,
    responds,
    validate_querystring,
    validate_request,
)

bp = Blueprint("example", __name__, url_prefix="/api/v1/example")


@bp.post("/notes")
@require_auth
@rate_limit("general")
@validate_request(NoteIn)
@responds(NoteOut, 201)
async def create_note(data: NoteIn):
    """Keep a note (only its author sees it)."""
    user = current_user()
    note = await service.create_note(user.id, data.text)
    await publish("example.note_created", note_id=note.id, user_id=user.id)
    return ok(service.note_dict(note), "note created", 201)


@bp.get("/notes")
@require_auth
@rate_limit("high")
@validate_querystring(PageQuery)
@responds(NotesPage)
async def list_notes(query_args: PageQuery):
    """The caller's notes, newest first, a page at a time."""
    notes, total = await service.list_notes(
        current_user().id, query_args.page, query_args.page_size
    )
    return ok(
        {
            "notes": [service.note_dict(note) for note in notes],
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )
