"""/api/v1/meetings (endpoints 17-34): thin handlers over the service."""

from __future__ import annotations

from quart import Blueprint

from kernel.api import PageQuery as PageQueryIn
from kernel.api import (
    current_user,
    ok,
    optional_body,
    paginate,
    rate_limit,
    require_auth,
    responds,
    validate_querystring,
    validate_request,
)
from plugins.meetings import schemas as s
from plugins.meetings import service

bp = Blueprint("meetings", __name__, url_prefix="/api/v1/meetings")


@bp.post("")
@rate_limit("general")
@require_auth
@validate_request(s.MeetingIn)
@responds(s.MeetingOut, 201)
async def create_meeting(data: s.MeetingIn):
    """Create a meeting; the caller becomes its host."""
    fields = data.model_dump(exclude={"settings"})
    fields["settings"] = data.settings.given() if data.settings else {}
    meeting = await service.create_meeting(current_user(), fields)
    return ok(service.meeting_detail(meeting), "meeting created", 201)


@bp.get("")
@rate_limit("high")
@require_auth
@validate_querystring(s.MeetingListQuery)
@responds(s.MeetingList)
async def list_meetings(query_args: s.MeetingListQuery):
    """Meetings of this deployment, newest start first; filter by status and keyword."""
    query = service.visible_meetings(query_args.status, query_args.keyword)
    rows, total = await paginate(
        query.order_by("-start_time", "-id"), query_args.page, query_args.page_size
    )
    return ok(
        {
            "meetings": [service.meeting_summary(m) for m in rows],
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )


@bp.get("/<int:meeting_id>")
@rate_limit("high")
@require_auth
@responds(s.MeetingOut)
async def get_meeting(meeting_id: int):
    """A meeting with its settings (never its password)."""
    return ok(service.meeting_detail(await service.get_meeting(meeting_id)))


@bp.put("/<int:meeting_id>")
@rate_limit("general")
@require_auth
@validate_request(s.MeetingUpdate)
@responds(s.MeetingOut)
async def update_meeting(meeting_id: int, data: s.MeetingUpdate):
    """Change a meeting (host or moderator); `status: cancelled` cancels a scheduled one."""
    acc = await service.access(meeting_id, current_user())
    meeting = await service.update_meeting(acc, data.changes())
    return ok(service.meeting_detail(meeting), "meeting updated")


@bp.delete("/<int:meeting_id>")
@rate_limit("general")
@require_auth
@responds(s.Empty)
async def delete_meeting(meeting_id: int):
    """Delete a meeting with its participants and chat (creator)."""
    await service.delete_meeting(await service.access(meeting_id, current_user()))
    return ok({}, "meeting deleted")


@bp.post("/<int:meeting_id>/start")
@rate_limit("general")
@require_auth
@responds(s.StartOut)
async def start_meeting(meeting_id: int):
    """Start the meeting (host)."""
    meeting = await service.start_meeting(await service.access(meeting_id, current_user()))
    return ok(
        {
            "meeting_id": meeting.id,
            "status": meeting.status.value,
            "room_url": service.room_url(meeting.id),
        },
        "meeting started",
    )


@bp.post("/<int:meeting_id>/end")
@rate_limit("general")
@require_auth
@responds(s.StartOut)
async def end_meeting(meeting_id: int):
    """End the meeting for everyone (host); live sessions are closed."""
    meeting = await service.end_by_host(await service.access(meeting_id, current_user()))
    return ok(
        {
            "meeting_id": meeting.id,
            "status": meeting.status.value,
            "room_url": service.room_url(meeting.id),
        },
        "meeting ended",
    )


@bp.post("/<int:meeting_id>/join")
@rate_limit("general")
@require_auth
@responds(s.JoinOut)
async def join_meeting(meeting_id: int):
    """Join (2002 ended, 2003 full, 2004 wrong password); joining twice changes nothing."""
    data = await optional_body(s.JoinIn)
    acc = await service.access(meeting_id, current_user())
    participant = await service.join(acc, data.password)
    return ok(
        {
            "meeting_id": meeting_id,
            "participant_id": participant.id,
            "status": participant.status.value,
            "room_url": service.room_url(meeting_id),
            "ice_servers": service.ice_servers(),
        },
        "waiting for the host to admit you" if participant.status.value == "waiting" else "joined",
    )


@bp.post("/<int:meeting_id>/leave")
@rate_limit("general")
@require_auth
@responds(s.Empty)
async def leave_meeting(meeting_id: int):
    """Leave the meeting."""
    await service.leave(await service.access(meeting_id, current_user()))
    return ok({}, "left the meeting")


@bp.get("/<int:meeting_id>/participants")
@rate_limit("high")
@require_auth
@responds(s.ParticipantList)
async def list_participants(meeting_id: int):
    """Everyone in, invited to or waiting for the meeting (participants and admins)."""
    rows = await service.participants(await service.access(meeting_id, current_user()))
    return ok({"participants": rows, "total": len(rows)})


@bp.post("/<int:meeting_id>/participants")
@rate_limit("general")
@require_auth
@validate_request(s.AddParticipantIn)
@responds(s.ParticipantOut, 201)
async def add_participant(meeting_id: int, data: s.AddParticipantIn):
    """Invite a user, or admit one from the waiting room (host or moderator)."""
    acc = await service.access(meeting_id, current_user())
    participant = await service.add_participant(acc, data.user_id, data.role)
    await participant.fetch_related("user")
    return ok(service.participant_shape(participant, participant.user), "participant added", 201)


@bp.delete("/<int:meeting_id>/participants/<int:user_id>")
@rate_limit("general")
@require_auth
@responds(s.Empty)
async def remove_participant(meeting_id: int, user_id: int):
    """Remove a participant; their live session is closed (host or moderator)."""
    await service.remove_participant(await service.access(meeting_id, current_user()), user_id)
    return ok({}, "participant removed")


@bp.put("/<int:meeting_id>/participants/<int:user_id>/role")
@rate_limit("general")
@require_auth
@validate_request(s.RoleIn)
@responds(s.ParticipantOut)
async def change_role(meeting_id: int, user_id: int, data: s.RoleIn):
    """Change a role (host); making someone host hands the role over."""
    acc = await service.access(meeting_id, current_user())
    participant = await service.change_role(acc, user_id, data.role)
    await participant.fetch_related("user")
    return ok(service.participant_shape(participant, participant.user), "role changed")


@bp.post("/<int:meeting_id>/recording/start")
@rate_limit("media")
@require_auth
async def start_recording(meeting_id: int):
    """Start recording (host or moderator; needs a recording plugin, else 503)."""
    data = await optional_body(s.RecordingStartIn)
    acc = await service.access(meeting_id, current_user())
    service.require_recording_rights(acc)
    result = await service.recording_call(
        "meeting_recording_start",
        meeting_id=meeting_id,
        user_id=acc.user.id,
        options=data.model_dump(exclude_none=True),
    )
    return ok(result, "recording started", 201)


@bp.post("/<int:meeting_id>/recording/stop")
@rate_limit("media")
@require_auth
async def stop_recording(meeting_id: int):
    """Stop the active recording (host or moderator)."""
    acc = await service.access(meeting_id, current_user())
    service.require_recording_rights(acc)
    result = await service.recording_call(
        "meeting_recording_stop", meeting_id=meeting_id, user_id=acc.user.id
    )
    return ok(result, "recording stopped")


@bp.get("/<int:meeting_id>/recordings")
@rate_limit("high")
@require_auth
async def list_recordings(meeting_id: int):
    """Recordings of the meeting (participants and admins)."""
    acc = await service.access(meeting_id, current_user())
    acc.require(acc.is_member, "only participants of the meeting can see its recordings")
    recordings = await service.recording_call("meeting_recordings", meeting_id=meeting_id)
    return ok({"recordings": recordings, "total": len(recordings)})


@bp.get("/<int:meeting_id>/messages")
@rate_limit("high")
@require_auth
@validate_querystring(PageQueryIn)
@responds(s.MessageList)
async def list_messages(meeting_id: int, query_args: PageQueryIn):
    """Chat history: page 1 is the newest page; within a page, newest last."""
    acc = await service.access(meeting_id, current_user())
    rows, total = await service.messages(acc, query_args.page, query_args.page_size)
    return ok(
        {
            "messages": rows,
            "total": total,
            "page": query_args.page,
            "page_size": query_args.page_size,
        }
    )


@bp.post("/<int:meeting_id>/messages")
@rate_limit("general")
@require_auth
@validate_request(s.MessageIn)
@responds(s.MessageCreated, 201)
async def send_message(meeting_id: int, data: s.MessageIn):
    """Send a chat message (also delivered live to the room)."""
    acc = await service.access(meeting_id, current_user())
    message = await service.send_message(acc, data.content)
    return ok(
        {"message_id": message.id, "timestamp": service.iso(message.created_at)},
        "message sent",
        201,
    )
