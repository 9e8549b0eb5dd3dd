"""Request and response schemas of /api/v1/speech."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from kernel.api import Id, Out, Schema


class SpeechIn(Schema):
    file_id: Id | None = None
    audio_data: str | None = Field(default=None, description="base64 of a file or raw PCM")
    audio_url: str | None = Field(default=None, max_length=2000)
    audio_format: str | None = Field(
        default=None, max_length=16, description="'pcm_s16le' for raw PCM; else detected"
    )
    sample_rate: int | None = Field(default=None, ge=8000, le=192000)
    language: str = Field(default="en", min_length=2, max_length=16)
    grammar: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="recognition only: the phrases the speech may contain (engines that can)",
    )

    @model_validator(mode="after")
    def one_input(self) -> SpeechIn:
        given = [n for n in ("file_id", "audio_data", "audio_url") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("file_id: give exactly one of file_id, audio_data, audio_url")
        if self.audio_format == "pcm_s16le" and not self.sample_rate:
            raise ValueError("sample_rate: required with audio_format pcm_s16le")
        return self


class RecognitionOut(Out):
    text: str
    confidence: float
    language: str
    segments: list[dict[str, Any]] | None = Field(description="words with start and end (s)")
    engine: str
