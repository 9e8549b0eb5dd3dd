"""Meeting logic, callable without HTTP (the signaling and recording plugins use it too).

Every function raises ApiError with the status and business code a client sees.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from passlib.context import CryptContext
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from kernel.api import (
    ApiError,
    Role,
    User,
    UserStatus,
    bulk_insert,
    get_platform,
    iso,
    public_url,
    publish,
)
from plugins.meetings.models import (
    DEFAULT_SETTINGS,
    ChatMessage,
    Meeting,
    MeetingStatus,
    Participant,
    ParticipantRole,
    ParticipantStatus,
)

log = logging.getLogger("platform.meetings")

MEETING_NOT_FOUND = 2001
MEETING_ENDED = 2002
MEETING_FULL = 2003
WRONG_MEETING_PASSWORD = 2004
USER_NOT_FOUND = 1003

CLOSED = (MeetingStatus.ENDED, MeetingStatus.CANCELLED)
_passwords = CryptContext(schemes=["argon2"], deprecated="auto")


def utcnow() -> datetime:
    return datetime.now(UTC)


# -- access -------------------------------------------------------------------------------


@dataclass
class Access:
    """What one user is to one meeting."""

    user: User
    meeting: Meeting
    participant: Participant | None

    @property
    def admin(self) -> bool:
        return self.user.role == Role.ADMIN

    @property
    def role(self) -> ParticipantRole | None:
        return self.participant.role if self.participant else None

    @property
    def is_host(self) -> bool:
        return self.admin or self.role == ParticipantRole.HOST

    @property
    def is_moderator(self) -> bool:
        return self.is_host or self.role == ParticipantRole.MODERATOR

    @property
    def is_member(self) -> bool:
        """A participant who is not stuck in the waiting room (or an admin)."""
        return self.admin or (
            self.participant is not None and self.participant.status != ParticipantStatus.WAITING
        )

    def require(self, allowed: bool, what: str) -> None:
        if not allowed:
            raise ApiError(403, f"forbidden: {what}")


async def get_meeting(meeting_id: int) -> Meeting:
    meeting = await Meeting.get_or_none(id=meeting_id)
    if meeting is None:
        raise ApiError(404, f"meeting {meeting_id} not found", MEETING_NOT_FOUND)
    return meeting


async def access(meeting_id: int, user: User) -> Access:
    meeting = await get_meeting(meeting_id)
    participant = await Participant.get_or_none(meeting_id=meeting.id, user_id=user.id)
    return Access(user, meeting, participant)


def refuse_if_closed(meeting: Meeting) -> None:
    if meeting.status in CLOSED:
        raise ApiError(409, f"meeting {meeting.id} has {meeting.status.value}", MEETING_ENDED)


# -- shapes --------------------------------------------------------------------------------


def room_url(meeting_id: int) -> str:
    return public_url(f"/ws/signaling?meeting_id={meeting_id}", websocket=True)


def ice_servers() -> list[dict[str, Any]]:
    return list(get_platform().settings.get("meetings.ice_servers", []) or [])


def meeting_summary(meeting: Meeting) -> dict[str, Any]:
    return {
        "meeting_id": meeting.id,
        "title": meeting.title,
        "start_time": iso(meeting.start_time),
        "end_time": iso(meeting.end_time),
        "status": meeting.status.value,
        "participant_count": meeting.seats_taken,
    }


def meeting_detail(meeting: Meeting) -> dict[str, Any]:
    return meeting_summary(meeting) | {
        "description": meeting.description,
        "creator_id": meeting.creator_id,
        "max_participants": meeting.max_participants,
        "meeting_type": meeting.meeting_type.value,
        "has_password": meeting.password_hash is not None,
        "settings": DEFAULT_SETTINGS | (meeting.settings or {}),
        "room_url": room_url(meeting.id),
        "started_at": iso(meeting.started_at),
        "ended_at": iso(meeting.ended_at),
        "created_at": iso(meeting.created_at),
        "updated_at": iso(meeting.updated_at),
    }


def participant_shape(participant: Participant, user: User) -> dict[str, Any]:
    return {
        "participant_id": participant.id,
        "meeting_id": participant.meeting_id,
        "user_id": participant.user_id,
        "username": user.username,
        "nickname": user.nickname,
        "role": participant.role.value,
        "status": participant.status.value,
        "audio_enabled": participant.audio_enabled,
        "video_enabled": participant.video_enabled,
        "joined_at": iso(participant.joined_at),
    }


def message_shape(message: ChatMessage, user: User) -> dict[str, Any]:
    return {
        "message_id": message.id,
        "meeting_id": message.meeting_id,
        "user_id": message.user_id,
        "username": user.username,
        "content": message.content,
        "timestamp": iso(message.created_at),
    }


# -- meetings ------------------------------------------------------------------------------


async def _hash(password: str | None) -> str | None:
    return None if password is None else await asyncio.to_thread(_passwords.hash, password)


async def create_meeting(user: User, data: dict[str, Any]) -> Meeting:
    password_hash = await _hash(data.pop("password", None))
    given = data.pop("settings", None) or {}
    settings = DEFAULT_SETTINGS | given
    await check_settings(settings, given)
    async with in_transaction():
        meeting = await Meeting.create(
            **data, creator_id=user.id, password_hash=password_hash, settings=settings
        )
        # The creator is the host from the start (offline until they join).
        await Participant.create(meeting=meeting, user_id=user.id, role=ParticipantRole.HOST)
    await publish("meeting.created", meeting_id=meeting.id, user_id=user.id, title=meeting.title)
    return meeting


async def check_settings(settings: dict[str, Any], given: dict[str, Any]) -> None:
    """Plugins refuse settings they cannot honour (hook `meeting_settings_check`, 422)."""
    for result in get_platform().plugins.hook.meeting_settings_check(
        settings=dict(settings), given=dict(given)
    ):
        if inspect.isawaitable(result):
            await result


async def update_meeting(acc: Access, changes: dict[str, Any]) -> Meeting:
    acc.require(acc.is_moderator, "only the host or a moderator can change the meeting")
    meeting = acc.meeting
    refuse_if_closed(meeting)
    start = changes.get("start_time", meeting.start_time)
    end = changes.get("end_time", meeting.end_time)
    if end <= start:
        raise ApiError(422, "end_time: must be after start_time")
    if changes.get("max_participants", meeting.max_participants) < meeting.seats_taken:
        raise ApiError(
            409, f"max_participants: {meeting.seats_taken} participants are in the meeting now"
        )
    if (
        changes.get("status") == MeetingStatus.CANCELLED
        and meeting.status != MeetingStatus.SCHEDULED
    ):
        raise ApiError(409, "status: only a scheduled meeting can be cancelled")
    if "password" in changes:
        meeting.password_hash = await _hash(changes.pop("password"))
    if "settings" in changes:
        given = changes.pop("settings")
        meeting.settings = DEFAULT_SETTINGS | (meeting.settings or {}) | given
        await check_settings(meeting.settings, given)
    for name, value in changes.items():
        setattr(meeting, name, value)
    await meeting.save()
    await publish(
        "meeting.updated", meeting_id=meeting.id, user_id=acc.user.id, fields=sorted(changes)
    )
    if meeting.status == MeetingStatus.CANCELLED:
        await publish("meeting.ended", meeting_id=meeting.id, reason="cancelled")
    return meeting


async def delete_meeting(acc: Access) -> None:
    acc.require(
        acc.admin or acc.meeting.creator_id == acc.user.id,
        "only the creator can delete the meeting",
    )
    meeting_id = acc.meeting.id
    if acc.meeting.status == MeetingStatus.ONGOING:
        await publish("meeting.ended", meeting_id=meeting_id, reason="deleted")
    await acc.meeting.delete()
    await publish("meeting.deleted", meeting_id=meeting_id, user_id=acc.user.id)


async def start_meeting(acc: Access) -> Meeting:
    acc.require(acc.is_host, "only the host can start the meeting")
    meeting = acc.meeting
    refuse_if_closed(meeting)
    if meeting.status == MeetingStatus.SCHEDULED:
        meeting.status, meeting.started_at = MeetingStatus.ONGOING, utcnow()
        await meeting.save(update_fields=["status", "started_at", "updated_at"])
        await publish("meeting.started", meeting_id=meeting.id, user_id=acc.user.id)
    return meeting


async def end_meeting(meeting: Meeting, actor_id: int | None, reason: str = "ended") -> None:
    """End a meeting: everyone goes offline and live sessions are told (meeting.ended)."""
    now = utcnow()
    async with in_transaction():
        await Participant.filter(
            meeting_id=meeting.id, status__in=[ParticipantStatus.ONLINE, ParticipantStatus.WAITING]
        ).update(status=ParticipantStatus.OFFLINE, left_at=now)
        meeting.status, meeting.ended_at, meeting.seats_taken = MeetingStatus.ENDED, now, 0
        await meeting.save(update_fields=["status", "ended_at", "seats_taken", "updated_at"])
    await publish("meeting.ended", meeting_id=meeting.id, user_id=actor_id, reason=reason)


async def end_by_host(acc: Access) -> Meeting:
    acc.require(acc.is_host, "only the host can end the meeting")
    refuse_if_closed(acc.meeting)
    await end_meeting(acc.meeting, acc.user.id)
    return acc.meeting


def visible_meetings(status: str | None = None, keyword: str | None = None) -> Any:
    query = Meeting.all()
    if status:
        query = query.filter(status=status)
    if keyword:
        query = query.filter(Q(title__icontains=keyword) | Q(description__icontains=keyword))
    return query


def meetings_of(user_id: int) -> Any:
    """Meetings the user created or takes part in (as any role, in any state)."""
    return Meeting.filter(Q(creator_id=user_id) | Q(participants__user_id=user_id)).distinct()


# -- joining -------------------------------------------------------------------------------


async def _take_seat(meeting_id: int) -> bool:
    # One conditional UPDATE: atomic in SQLite and PostgreSQL, so the cap holds under races.
    taken = await Meeting.filter(id=meeting_id, seats_taken__lt=F("max_participants")).update(
        seats_taken=F("seats_taken") + 1
    )
    return taken == 1


async def _free_seat(meeting_id: int) -> None:
    await Meeting.filter(id=meeting_id, seats_taken__gt=0).update(seats_taken=F("seats_taken") - 1)


async def join(acc: Access, password: str | None) -> Participant:
    meeting, user = acc.meeting, acc.user
    refuse_if_closed(meeting)
    current = acc.participant
    if current is not None and current.status in (
        ParticipantStatus.ONLINE,
        ParticipantStatus.WAITING,
    ):
        return current  # joining twice (another tab, a retry) changes nothing
    privileged = acc.is_moderator or meeting.creator_id == user.id
    if meeting.password_hash and not privileged and current is None:
        ok = password is not None and await asyncio.to_thread(
            _passwords.verify, password, meeting.password_hash
        )
        if not ok:
            raise ApiError(403, "wrong meeting password", WRONG_MEETING_PASSWORD)
    settings = DEFAULT_SETTINGS | (meeting.settings or {})
    waiting = settings["enable_waiting_room"] and not privileged
    try:
        participant = await _enter(meeting, user, current, waiting, settings["mute_on_join"])
    except IntegrityError:
        # The same user joined twice at once; the other request won: same answer.
        participant = await Participant.get(meeting_id=meeting.id, user_id=user.id)
        return participant
    event = "participant.waiting" if waiting else "participant.joined"
    await publish(event, meeting_id=meeting.id, user_id=user.id, participant_id=participant.id)
    return participant


async def _enter(
    meeting: Meeting, user: User, current: Participant | None, waiting: bool, muted: bool
) -> Participant:
    async with in_transaction():
        if not waiting and not await _take_seat(meeting.id):
            raise ApiError(409, f"meeting {meeting.id} is full", MEETING_FULL)
        status = ParticipantStatus.WAITING if waiting else ParticipantStatus.ONLINE
        fields = {"status": status, "joined_at": utcnow(), "left_at": None}
        if muted:
            fields["audio_enabled"] = False
        if current is None:
            return await Participant.create(meeting_id=meeting.id, user_id=user.id, **fields)
        changed = await Participant.filter(id=current.id, status=ParticipantStatus.OFFLINE).update(
            **fields
        )
        if not changed:  # a concurrent join of the same user got here first
            raise IntegrityError("participant already joined")
        return await Participant.get(id=current.id)


async def leave(acc: Access) -> None:
    participant = acc.participant
    if participant is None or participant.status == ParticipantStatus.OFFLINE:
        raise ApiError(409, "you are not in this meeting")
    await _go_offline(participant)
    await publish("participant.left", meeting_id=acc.meeting.id, user_id=acc.user.id)


async def _go_offline(participant: Participant) -> None:
    async with in_transaction():
        changed = await Participant.filter(
            id=participant.id, status__not=ParticipantStatus.OFFLINE
        ).update(status=ParticipantStatus.OFFLINE, left_at=utcnow())
        if changed and participant.status == ParticipantStatus.ONLINE:
            await _free_seat(participant.meeting_id)


# -- participants --------------------------------------------------------------------------


async def participants(acc: Access) -> list[dict[str, Any]]:
    acc.require(acc.is_member, "only participants of the meeting can see who is in it")
    rows = (
        await Participant.filter(meeting_id=acc.meeting.id).order_by("id").prefetch_related("user")
    )
    return [participant_shape(row, row.user) for row in rows]


async def add_participant(acc: Access, user_id: int, role: ParticipantRole) -> Participant:
    """Invite a user, or admit one from the waiting room (host and moderators)."""
    acc.require(acc.is_moderator, "only the host or a moderator can add participants")
    refuse_if_closed(acc.meeting)
    if role == ParticipantRole.HOST:
        raise ApiError(422, "role: use the role endpoint to hand the host role over")
    user = await User.get_or_none(id=user_id)
    if user is None or user.status == UserStatus.DELETED:
        raise ApiError(404, f"user {user_id} not found", USER_NOT_FOUND)
    existing = await Participant.get_or_none(meeting_id=acc.meeting.id, user_id=user_id)
    if existing is not None and existing.status == ParticipantStatus.WAITING:
        async with in_transaction():
            if not await _take_seat(acc.meeting.id):
                raise ApiError(409, f"meeting {acc.meeting.id} is full", MEETING_FULL)
            await Participant.filter(id=existing.id).update(
                status=ParticipantStatus.ONLINE, role=role
            )
        await publish(
            "participant.joined",
            meeting_id=acc.meeting.id,
            user_id=user_id,
            participant_id=existing.id,
            admitted_by=acc.user.id,
        )
        return await Participant.get(id=existing.id)
    if existing is not None:
        raise ApiError(409, f"user {user_id} is already a participant")
    try:
        participant = await Participant.create(
            meeting_id=acc.meeting.id, user_id=user_id, role=role
        )
    except IntegrityError as exc:
        raise ApiError(409, f"user {user_id} is already a participant") from exc
    await publish(
        "participant.added",
        meeting_id=acc.meeting.id,
        user_id=user_id,
        added_by=acc.user.id,
        role=role.value,
    )
    return participant


async def _target(acc: Access, user_id: int) -> Participant:
    target = await Participant.get_or_none(meeting_id=acc.meeting.id, user_id=user_id)
    if target is None:
        raise ApiError(404, f"user {user_id} is not a participant of meeting {acc.meeting.id}")
    return target


async def remove_participant(acc: Access, user_id: int) -> None:
    acc.require(acc.is_moderator, "only the host or a moderator can remove participants")
    target = await _target(acc, user_id)
    if target.role == ParticipantRole.HOST:
        raise ApiError(409, "the host cannot be removed: hand the host role to someone first")
    if target.role == ParticipantRole.MODERATOR and not acc.is_host:
        raise ApiError(403, "forbidden: only the host can remove a moderator")
    async with in_transaction():
        deleted = await Participant.filter(id=target.id).delete()
        if deleted and target.status == ParticipantStatus.ONLINE:
            await _free_seat(acc.meeting.id)
    # Signaling listens for this and closes the user's live sessions.
    await publish(
        "participant.removed", meeting_id=acc.meeting.id, user_id=user_id, removed_by=acc.user.id
    )


async def change_role(acc: Access, user_id: int, role: ParticipantRole) -> Participant:
    acc.require(acc.is_host, "only the host can change roles")
    target = await _target(acc, user_id)
    if target.role == role:
        return target
    if target.role == ParticipantRole.HOST:
        raise ApiError(409, "a meeting always has a host: make another participant host instead")
    async with in_transaction():
        if role == ParticipantRole.HOST:
            # Handing over: the old host stays on as a moderator.
            await Participant.filter(meeting_id=acc.meeting.id, role=ParticipantRole.HOST).update(
                role=ParticipantRole.MODERATOR
            )
        await Participant.filter(id=target.id).update(role=role)
    await publish(
        "participant.role_changed",
        meeting_id=acc.meeting.id,
        user_id=user_id,
        role=role.value,
        changed_by=acc.user.id,
    )
    return await Participant.get(id=target.id)


async def set_media_state(
    meeting_id: int, user_id: int, audio: bool | None = None, video: bool | None = None
) -> None:
    """Record a participant's audio/video state (the signaling plugin calls this)."""
    changes = {
        k: v for k, v in (("audio_enabled", audio), ("video_enabled", video)) if v is not None
    }
    if changes:
        await Participant.filter(meeting_id=meeting_id, user_id=user_id).update(**changes)


# -- chat ----------------------------------------------------------------------------------


async def messages(acc: Access, page: int, page_size: int) -> tuple[list[dict[str, Any]], int]:
    """Page 1 is the newest `page_size` messages; each page lists oldest first (newest last)."""
    acc.require(acc.is_member, "only participants of the meeting can read its chat")
    query = ChatMessage.filter(meeting_id=acc.meeting.id)
    total = await query.count()
    rows = (
        await query.order_by("-created_at", "-id")
        .offset((page - 1) * page_size)
        .limit(page_size)
        .prefetch_related("user")
    )
    return [message_shape(row, row.user) for row in reversed(rows)], total


async def send_message(acc: Access, content: str) -> ChatMessage:
    _check_chat(acc)
    message = await ChatMessage.create(
        meeting_id=acc.meeting.id, user_id=acc.user.id, content=content
    )
    await publish("chat.message", **message_shape(message, acc.user))
    return message


def _check_chat(acc: Access) -> None:
    acc.require(acc.is_member, "only participants of the meeting can chat")
    refuse_if_closed(acc.meeting)
    if not (DEFAULT_SETTINGS | (acc.meeting.settings or {}))["enable_chat"]:
        raise ApiError(403, "chat is disabled in this meeting")


async def _new_message_ids(conn: Any, count: int) -> list[int]:
    """`count` ids for new chat messages, taken inside the caller's transaction."""
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(
            "SELECT nextval(pg_get_serial_sequence('meeting_messages', 'id')) AS id "
            "FROM generate_series(1, $1)",
            [count],
        )
        return [row["id"] for row in rows]
    # SQLite: one writer at a time; a racing writer makes the insert fail (IntegrityError).
    rows = await conn.execute_query_dict("SELECT COALESCE(MAX(id), 0) AS top FROM meeting_messages")
    top = int(rows[0]["top"])
    return list(range(top + 1, top + 1 + count))


async def send_messages(items: list[tuple[Access, str]], conn: Any) -> list[ChatMessage | ApiError]:
    """`send_message` for many messages in one insert (the same rules, one event each), inside
    the caller's transaction `conn`: for high chat rates (the signaling WebSocket). Each item
    gets its message or the ApiError that refused it; a racing writer raises IntegrityError."""
    checked: list[Access | ApiError] = []
    for acc, _ in items:
        try:
            _check_chat(acc)
            checked.append(acc)
        except ApiError as exc:
            checked.append(exc)
    count = sum(isinstance(c, Access) for c in checked)
    ids = iter(await _new_message_ids(conn, count) if count else [])
    now = datetime.now(UTC)
    results: list[ChatMessage | ApiError] = []
    for acc, (_, content) in zip(checked, items, strict=True):
        if isinstance(acc, ApiError):
            results.append(acc)
            continue
        results.append(
            ChatMessage(
                id=next(ids),
                meeting_id=acc.meeting.id,
                user_id=acc.user.id,
                content=content,
                created_at=now,
            )
        )
    messages = [m for m in results if isinstance(m, ChatMessage)]
    if messages:
        await bulk_insert(messages, conn)
    for acc, message in zip(checked, results, strict=True):
        if isinstance(message, ChatMessage) and isinstance(acc, Access):
            await publish("chat.message", **message_shape(message, acc.user))
    return results


# -- recording (delegated to a recording plugin) ---------------------------------------------


async def recording_call(hook_name: str, **kwargs: Any) -> Any:
    hook = getattr(get_platform().plugins.hook, hook_name)
    if not hook.get_hookimpls():
        raise ApiError(
            503,
            "recording is not available on this server: no recording plugin is enabled",
        )
    result = hook(**kwargs)
    return await result if inspect.isawaitable(result) else result


def require_recording_rights(acc: Access) -> None:
    acc.require(acc.is_moderator, "only the host or a moderator can record")
    if not (DEFAULT_SETTINGS | (acc.meeting.settings or {}))["enable_recording"]:
        raise ApiError(403, "recording is disabled in this meeting's settings")


# -- accounts ------------------------------------------------------------------------------


async def user_deleted(user_id: int) -> None:
    """A deleted user's meetings keep working for the others or end cleanly.

    Scheduled meetings they host are cancelled; an ongoing one passes the host role to a
    moderator (else the longest-present online participant), and ends if nobody is left.
    """
    for participant in await Participant.filter(user_id=user_id).prefetch_related("meeting"):
        meeting = participant.meeting
        await _go_offline(participant)
        if participant.role != ParticipantRole.HOST or meeting.status in CLOSED:
            continue
        if meeting.status == MeetingStatus.SCHEDULED:
            meeting.status = MeetingStatus.CANCELLED
            await meeting.save(update_fields=["status", "updated_at"])
            await publish("meeting.ended", meeting_id=meeting.id, reason="host deleted")
            continue
        online = Participant.filter(meeting_id=meeting.id, status=ParticipantStatus.ONLINE)
        online = online.exclude(user_id=user_id).order_by("joined_at", "id")
        heir = await online.filter(role=ParticipantRole.MODERATOR).first() or await online.first()
        if heir is None:
            await end_meeting(meeting, None, reason="host deleted")
            continue
        await Participant.filter(id=participant.id).update(role=ParticipantRole.PARTICIPANT)
        await Participant.filter(id=heir.id).update(role=ParticipantRole.HOST)
        await publish(
            "participant.role_changed",
            meeting_id=meeting.id,
            user_id=heir.user_id,
            role="host",
            reason="host deleted",
        )
