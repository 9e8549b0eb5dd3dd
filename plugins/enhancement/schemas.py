"""Request and response schemas of the enhancement endpoints."""

from __future__ import annotations

from pydantic import Field, model_validator

from kernel.api import Id, Out, Schema


class DenoiseIn(Schema):
    file_id: Id | None = None
    audio_data: str | None = Field(default=None, description="base64 of an audio file")

    @model_validator(mode="after")
    def one_input(self) -> DenoiseIn:
        if (self.file_id is None) == (self.audio_data is None):
            raise ValueError("file_id: give exactly one of file_id and audio_data")
        return self


class VideoIn(Schema):
    file_id: Id | None = None
    video_data: str | None = Field(default=None, description="base64 of a video file")
    enhancement_type: str = Field(min_length=1, max_length=32)

    @model_validator(mode="after")
    def one_input(self) -> VideoIn:
        if (self.file_id is None) == (self.video_data is None):
            raise ValueError("file_id: give exactly one of file_id and video_data")
        return self


class EnhancedOut(Out):
    file_id: int | None = Field(description="the enhanced file, when the input was a file")
    audio_data: str | None = Field(default=None, description="base64 WAV, for audio_data input")
    engine: str
