"""Speech (endpoints 67-69): recognition, emotion and synthetic-speech detection.

This plugin owns the endpoints and the audio inputs (`file_id` the caller may read,
`audio_data` base64 up to `speech.max_audio_bytes`, or `audio_url` naming this deployment's own
media: nothing is fetched from other hosts, so no request can reach internal addresses).
Engines are other plugins (hook `register_speech_engines`, e.g. `pocketsphinx`); they run as
kernel jobs in worker processes. Without an engine for a task the endpoint answers 503 (4001);
an engine that fails answers 422 (4002).
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl
from plugins.speech import hookspecs  # noqa: F401  (the kernel adds these hook specs)

requires = ("media",)


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.speech.routes import bp

    register(bp)
