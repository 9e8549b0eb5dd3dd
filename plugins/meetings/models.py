"""Meetings, their participants and chat messages (Tortoise app label "meetings")."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

# Docstrings become SQL table comments: no semicolons in them (tortoise's SQLite runner splits
# statements on them).


class MeetingStatus(StrEnum):
    SCHEDULED = "scheduled"
    ONGOING = "ongoing"
    ENDED = "ended"
    CANCELLED = "cancelled"


class MeetingType(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"


class ParticipantRole(StrEnum):
    HOST = "host"
    MODERATOR = "moderator"
    PARTICIPANT = "participant"


class ParticipantStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    WAITING = "waiting"


DEFAULT_SETTINGS = {
    "enable_recording": False,
    "enable_chat": True,
    "enable_screen_share": True,
    "enable_waiting_room": False,
    "mute_on_join": False,
    # Live captions: a plugin (captions) transcribes the meeting and sends `caption` messages.
    "enable_captions": False,
}


class Meeting(Model):
    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=100)
    description = fields.CharField(max_length=500, null=True)
    creator = fields.ForeignKeyField(
        "kernel.User", related_name="meetings_created", on_delete="CASCADE"
    )
    start_time = fields.DatetimeField(db_index=True)
    end_time = fields.DatetimeField()
    max_participants = fields.IntField()
    # Participants online now: the seat counter that max_participants guards atomically.
    seats_taken = fields.IntField(default=0)
    meeting_type = fields.CharEnumField(MeetingType, max_length=16, default=MeetingType.VIDEO)
    password_hash = fields.CharField(max_length=255, null=True)
    status = fields.CharEnumField(
        MeetingStatus, max_length=16, default=MeetingStatus.SCHEDULED, db_index=True
    )
    settings = fields.JSONField(default=dict)
    started_at = fields.DatetimeField(null=True)
    ended_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "meetings"


class Participant(Model):
    id = fields.IntField(primary_key=True)
    meeting = fields.ForeignKeyField(
        "meetings.Meeting", related_name="participants", on_delete="CASCADE"
    )
    user = fields.ForeignKeyField("kernel.User", related_name="participations", on_delete="CASCADE")
    role = fields.CharEnumField(ParticipantRole, max_length=16, default=ParticipantRole.PARTICIPANT)
    status = fields.CharEnumField(
        ParticipantStatus, max_length=16, default=ParticipantStatus.OFFLINE
    )
    audio_enabled = fields.BooleanField(default=True)
    video_enabled = fields.BooleanField(default=True)
    joined_at = fields.DatetimeField(null=True)
    left_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "meeting_participants"
        unique_together = (("meeting", "user"),)


class ChatMessage(Model):
    id = fields.IntField(primary_key=True)
    meeting = fields.ForeignKeyField(
        "meetings.Meeting", related_name="messages", on_delete="CASCADE"
    )
    user = fields.ForeignKeyField("kernel.User", related_name="chat_messages", on_delete="CASCADE")
    content = fields.CharField(max_length=1000)
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "meeting_messages"
