"""Request and response schemas of GET /api/v1/meetings/{meeting_id}/transcript."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from kernel.api import Out, PageQuery


class TranscriptQuery(PageQuery):
    format: Literal["json", "vtt"] | None = Field(
        default=None,
        description="`vtt`: the whole transcript as WebVTT (also with `Accept: text/vtt`)",
    )


class SegmentOut(Out):
    segment_id: int
    meeting_id: int
    user_id: int | None
    username: str | None
    session_id: str
    text: str
    start: float = Field(description="seconds into the meeting")
    end: float
    language: str
    created_at: str | None


class TranscriptOut(Out):
    segments: list[SegmentOut]
    total: int
    page: int
    page_size: int
