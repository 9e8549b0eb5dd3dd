"""Hooks of the speech plugin: engines that recognise, classify or judge speech."""

from __future__ import annotations

from typing import Any

from kernel.api import hookspec


@hookspec
def register_speech_engines(register: Any) -> None:
    """Call `register(task, name, job_kind, languages=("en",), options={})` per engine.

    `task` is "recognition", "emotion" or "synthesis_detection"; `job_kind` is a kernel job
    type the plugin registered (register_job_types) whose function gets the `options` plus
    {"path", "language", "raw_rate"} and answers the endpoint's fields. `languages` None: any.
    """


@hookspec
def register_streaming_recognizers(register: Any, settings: Any) -> None:
    """Call `register(name, open_stream, languages=("en",))` per engine that recognises live audio.

    `open_stream(language)` runs in a worker thread and returns a stream with `sample_rate`
    (the mono 16-bit PCM rate it wants), `accept(pcm: bytes) -> dict | None` (a partial
    `{"text": ..., "final": False}`, a final `{"text": ..., "final": True}` or None) and
    `finish() -> dict | None` (the rest of the utterance, final).
    """
