"""Hooks of the enhancement plugin: engines that clean up audio or video."""

from __future__ import annotations

from typing import Any

from kernel.api import hookspec


@hookspec
def register_enhancement_engines(register: Any) -> None:
    """Call `register(task, name, job_kind, kinds=(...))` per engine.

    `task` is "audio_denoise" or "video_enhance"; the job function gets {"path", "type"} and
    writes `workdir/output.<ext>` (wav for audio, mp4 for video), answering {"extension"}.
    `kinds`: the enhancement types a video engine offers (denoise, sharpen, upscale, ...).
    """
