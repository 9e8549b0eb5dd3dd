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
