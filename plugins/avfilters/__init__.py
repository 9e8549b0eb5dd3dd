"""Enhancement engines made of FFmpeg's own filters (in PyAV's wheel: no model, no download).

Audio denoising: `afftdn` (FFT noise reduction). Video: `denoise` (atadenoise), `sharpen`
(unsharp), `upscale` (2x lanczos). Modest but real; model-based engines can replace them.
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl

requires = ("enhancement",)
AUDIO = "enhance.audio_denoise.avfilters"
VIDEO = "enhance.video_enhance.avfilters"


@hookimpl
def register_job_types(register: Any) -> None:
    from plugins.enhancement.service import finish

    register(AUDIO, "plugins.avfilters.filters:denoise_audio", finish=finish, timeout=1800)
    register(VIDEO, "plugins.avfilters.filters:enhance_video", finish=finish, timeout=3600)


@hookimpl
def register_enhancement_engines(register: Any) -> None:
    from plugins.avfilters.filters import VIDEO_FILTERS

    register("audio_denoise", "avfilters", AUDIO, ("denoise",))
    register("video_enhance", "avfilters", VIDEO, tuple(VIDEO_FILTERS))
