"""Live recognition for captions: one Vosk model per process, a `KaldiRecognizer` per stream.

A model takes seconds to load and hundreds of MB, a recognizer almost nothing: every stream in
a process (each participant of each captioned meeting) shares the one model. Vosk's model is
safe to share between threads; each recognizer is used by one stream at a time.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from plugins.vosk.engine import VoskModel, open_model

_models: dict[str, VoskModel] = {}
_loading = threading.Lock()


def shared_model(path: str) -> VoskModel:
    """The model at `path`, loaded on first use in this process (ValueError if it cannot be)."""
    with _loading:
        if path not in _models:
            _models[path] = open_model(path)
        return _models[path]


class VoskStream:
    """One speaker's live audio: partial results while they speak, a final one per utterance."""

    def __init__(self, model: VoskModel, grammar: list[str] | None = None) -> None:
        self.sample_rate = model.sample_rate
        self._recognizer = model.recognizer(grammar)
        self._partial = ""

    def accept(self, pcm: bytes) -> dict[str, Any] | None:
        """Mono 16-bit PCM at `sample_rate`; a result when there is something new to say."""
        if self._recognizer.AcceptWaveform(pcm):  # Vosk heard the utterance end (silence)
            return self._final(self._recognizer.Result())
        partial = json.loads(self._recognizer.PartialResult()).get("partial", "")
        if partial and partial != self._partial:
            self._partial = partial
            return {"text": partial, "final": False}
        return None

    def finish(self) -> dict[str, Any] | None:
        """The end of the audio: what is left of the utterance, as a final result."""
        return self._final(self._recognizer.FinalResult())

    def _final(self, result: str) -> dict[str, Any] | None:
        self._partial = ""
        text = json.loads(result).get("text", "")
        return {"text": text, "final": True} if text else None


def opener(path: str) -> Any:
    """`open_stream(language)` for register_streaming_recognizers, on the model at `path`."""

    def open_stream(language: str) -> VoskStream:
        return VoskStream(shared_model(path))

    return open_stream
