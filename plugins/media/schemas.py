"""Request and response schemas of /api/v1/media."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from quart_schema.pydantic import File

from kernel.api import Id, Out, PageQuery, Schema
from plugins.media.models import FileType


class MediaListQuery(PageQuery):
    meeting_id: Id | None = None
    file_type: FileType | None = None


class UploadIn(Schema):
    """The multipart form of an upload (documentation: the route streams the parts itself)."""

    file: File = Field(description="the file; its content decides the type")
    meeting_id: Id | None = Field(default=None, description="share it with a meeting's members")


class UploadOut(Out):
    file_id: int
    file_url: str
    size: int
    mime_type: str
    file_type: str
    file_name: str


class MediaOut(Out):
    file_id: int
    user_id: int
    meeting_id: int | None
    file_name: str
    file_url: str
    file_type: str
    mime_type: str
    size: int
    duration: float | None = Field(description="seconds")
    width: int | None
    height: int | None
    codec: str | None = Field(description="the video codec, or the audio codec of audio files")
    audio_codec: str | None
    bitrate: int | None = Field(description="bit/s")
    created_at: str


class MediaList(Out):
    files: list[MediaOut]
    total: int
    page: int
    page_size: int


class ProcessIn(Schema):
    file_id: Id
    operation: Literal["transcode", "extract_audio", "extract_video", "thumbnail"]
    parameters: dict[str, Any] = Field(default_factory=dict)


class JobOut(Out):
    job_id: int
    status: str


class Deleted(Out):
    file_id: int
