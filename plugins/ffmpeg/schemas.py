"""Request and response schemas of /api/v1/ffmpeg."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kernel.api import Id, Out, Schema

Width = Field(default=None, ge=16, le=7680, description="pixels, even")
Height = Field(default=None, ge=16, le=4320, description="pixels, even")


class TranscodeIn(Schema):
    file_id: Id
    format: str = Field(min_length=1, max_length=16, description="mp4, mkv, webm, mov, mp3, ...")
    video_codec: str | None = Field(default=None, max_length=32)
    audio_codec: str | None = Field(default=None, max_length=32)
    width: int | None = Width
    height: int | None = Height
    bitrate: int | None = Field(default=None, ge=32_000, le=50_000_000, description="video bit/s")


class ExtractIn(Schema):
    file_id: Id
    format: str = Field(min_length=1, max_length=16)


class MergeIn(Schema):
    file_ids: list[Id] = Field(min_length=2, max_length=10)
    output_format: str = Field(min_length=1, max_length=16)
    merge_type: Literal["concat", "overlay", "side_by_side"]


class ThumbnailIn(Schema):
    file_id: Id
    timestamp: float = Field(default=0, ge=0, description="seconds from the start")
    width: int | None = Width
    height: int | None = Height
    format: Literal["jpeg", "png"] = "jpeg"


class JobQueued(Out):
    job_id: int
    status: str


class JobStatusOut(Out):
    job_id: int
    file_id: int
    job_type: str
    status: str = Field(description="pending, processing, completed or failed")
    progress: int = Field(description="0-100, from the decoded position")
    output_file_id: int | None
    error: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
