"""Request and response schemas of /api/v1/recording."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kernel.api import Id, Out, PageQuery, Schema


class StartIn(Schema):
    meeting_id: Id
    title: str | None = Field(default=None, max_length=200)
    quality: Literal["720p", "1080p"] = "720p"
    format: Literal["mp4", "webm", "mkv"] = "mp4"


class StopIn(Schema):
    recording_id: Id


class ListQuery(PageQuery):
    meeting_id: Id | None = None


class RecordingOut(Out):
    recording_id: int
    meeting_id: int
    user_id: int
    title: str | None
    status: str = Field(description="recording, processing, completed or failed")
    quality: str
    format: str
    file_id: int | None
    file_url: str | None
    download_url: str | None
    duration: float | None
    size: int | None
    error: str | None
    started_at: str | None
    stopped_at: str | None
    completed_at: str | None


class RecordingList(Out):
    recordings: list[RecordingOut]
    total: int
    page: int
    page_size: int
