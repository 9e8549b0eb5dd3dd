"""Request and response schemas of /api/v1/meetings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from kernel.api import Id, PageQuery, Schema
from plugins.meetings.models import MeetingStatus, MeetingType, ParticipantRole


def _iso_text(value: object) -> object:
    """Times arrive as ISO 8601 text: pydantic would also take a number as Unix seconds, and a
    client's 0 or 1700000000 is more likely a bug than a time."""
    if not isinstance(value, str | datetime):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-01-31T09:00:00Z")
    return value


def _utc(value: datetime) -> datetime:
    """Times without an offset are taken as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, BeforeValidator(_iso_text), AfterValidator(_utc)]
Title = Annotated[str, Field(min_length=1, max_length=100)]


class SettingsIn(Schema):
    enable_recording: bool | None = None
    enable_chat: bool | None = None
    enable_screen_share: bool | None = None
    enable_waiting_room: bool | None = None
    mute_on_join: bool | None = None
    enable_captions: bool | None = None

    def given(self) -> dict[str, bool]:
        return self.model_dump(exclude_none=True)


class MeetingIn(Schema):
    title: Title
    description: str | None = Field(default=None, max_length=500)
    start_time: UtcDatetime
    end_time: UtcDatetime
    max_participants: int = Field(ge=1, le=1000)
    meeting_type: MeetingType = MeetingType.VIDEO
    password: str | None = Field(default=None, min_length=1, max_length=50)
    settings: SettingsIn | None = None

    @field_validator("title")
    @classmethod
    def title_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @model_validator(mode="after")
    def ends_after_start(self) -> MeetingIn:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        return self


class MeetingUpdate(Schema):
    title: Title | None = None
    description: str | None = Field(default=None, max_length=500)
    start_time: UtcDatetime | None = None
    end_time: UtcDatetime | None = None
    max_participants: int | None = Field(default=None, ge=1, le=1000)
    meeting_type: MeetingType | None = None
    password: str | None = Field(default=None, min_length=1, max_length=50)
    settings: SettingsIn | None = None
    status: MeetingStatus | None = Field(
        default=None, description="only `cancelled`, for a scheduled meeting"
    )

    @field_validator("status")
    @classmethod
    def only_cancel(cls, value: MeetingStatus | None) -> MeetingStatus | None:
        if value not in (None, MeetingStatus.CANCELLED):
            raise ValueError("only 'cancelled' can be set; start and end have their endpoints")
        return value

    @field_validator("title", "start_time", "end_time", "max_participants", "meeting_type")
    @classmethod
    def not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("may be left out but not null")
        return value

    def changes(self) -> dict[str, object]:
        """Fields the client sent; `password: null` and `description: null` clear them."""
        data = self.model_dump(exclude_unset=True)
        if "settings" in data:
            data["settings"] = self.settings.given() if self.settings else {}
        return data


class MeetingListQuery(PageQuery):
    status: MeetingStatus | None = None
    keyword: str | None = Field(default=None, max_length=100)


class JoinIn(Schema):
    password: str | None = Field(default=None, max_length=50)


class AddParticipantIn(Schema):
    user_id: Id
    role: ParticipantRole = ParticipantRole.PARTICIPANT


class RoleIn(Schema):
    role: ParticipantRole


class MessageIn(Schema):
    content: str = Field(min_length=1, max_length=1000)

    @field_validator("content")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class RecordingStartIn(Schema):
    title: str | None = Field(default=None, max_length=100)
    quality: str | None = Field(default=None, pattern="^(720p|1080p)$")
    format: str | None = Field(default=None, pattern="^(mp4|webm|mkv)$")


# -- responses (documentation) --------------------------------------------------------------


class MeetingSummary(BaseModel):
    meeting_id: int
    title: str
    start_time: str
    end_time: str
    status: MeetingStatus
    participant_count: int


class MeetingOut(MeetingSummary):
    description: str | None
    creator_id: int
    max_participants: int
    meeting_type: MeetingType
    has_password: bool
    settings: dict[str, bool]
    room_url: str
    started_at: str | None
    ended_at: str | None
    created_at: str
    updated_at: str


class MeetingList(BaseModel):
    meetings: list[MeetingSummary]
    total: int
    page: int
    page_size: int


class StartOut(BaseModel):
    meeting_id: int
    status: MeetingStatus
    room_url: str


class JoinOut(BaseModel):
    meeting_id: int
    participant_id: int
    status: str
    room_url: str
    ice_servers: list[dict]


class ParticipantOut(BaseModel):
    participant_id: int
    meeting_id: int
    user_id: int
    username: str
    nickname: str | None
    role: ParticipantRole
    status: str
    audio_enabled: bool
    video_enabled: bool
    joined_at: str | None


class ParticipantList(BaseModel):
    participants: list[ParticipantOut]
    total: int


class MessageOut(BaseModel):
    message_id: int
    user_id: int
    username: str
    content: str
    timestamp: str


class MessageList(BaseModel):
    messages: list[MessageOut]
    total: int
    page: int
    page_size: int


class MessageCreated(BaseModel):
    message_id: int
    timestamp: str


class Empty(BaseModel):
    pass
