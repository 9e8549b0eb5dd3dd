"""Speech recognition engine: CMU PocketSphinx with the US English model its wheel ships.

Offline, small and fast (the model loads in about half a second in the worker); accuracy is
modest: a fallback and a real engine for tests. Registers the job type
`speech.recognition.pocketsphinx` and the engine for the `speech` plugin.
"""

from __future__ import annotations

from typing import Any

from kernel.api import PluginUnavailable, hookimpl

try:
    import pocketsphinx  # noqa: F401
except ImportError as exc:
    raise PluginUnavailable("needs pocketsphinx: pip install 'meeting-platform[ai]'") from exc

requires = ("speech",)
KIND = "speech.recognition.pocketsphinx"


@hookimpl
def register_job_types(register: Any) -> None:
    register(KIND, "plugins.pocketsphinx.engine:recognise", timeout=600)


@hookimpl
def register_speech_engines(register: Any) -> None:
    register("recognition", "pocketsphinx", KIND, languages=("en",))
