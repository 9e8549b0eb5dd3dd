"""Request and response schemas of /api/v1/streaming."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from kernel.api import Id, Out, Schema


class StartIn(Schema):
    meeting_id: Id
    protocol: Literal["rtmp", "hls"]
    url: str | None = Field(default=None, max_length=500, description="the RTMP target (rtmp)")

    @model_validator(mode="after")
    def url_matches_protocol(self) -> StartIn:
        if self.protocol == "rtmp" and not (self.url or "").startswith(("rtmp://", "rtmps://")):
            raise ValueError("url: an rtmp:// or rtmps:// target is required for protocol rtmp")
        if self.protocol == "hls" and self.url:
            raise ValueError("url: not used with hls (the platform serves the playlist)")
        return self


class StopIn(Schema):
    stream_id: str = Field(min_length=1, max_length=32)


class StreamOut(Out):
    stream_id: str
    meeting_id: int
    protocol: str
    status: str = Field(description="live, reconnecting, stopped or failed")
    playback_url: str | None
    started_at: str | None
    stopped_at: str | None
    bitrate: int = Field(description="bit/s sent so far (average)")
    reconnects: int
    last_error: str | None
