"""Speech recognition engine: CMU PocketSphinx with the US English model its wheel ships.

Offline, small and fast (the model loads in about half a second, once, in its host process);
accuracy is modest: a fallback and a real engine for tests. Registers the model
`pocketsphinx-en-us`, the job type `speech.recognition.pocketsphinx` and the engine.
"""

from __future__ import annotations

from typing import Any

from kernel.api import PluginUnavailable, hookimpl

try:
    import pocketsphinx
except ImportError as exc:
    raise PluginUnavailable("needs pocketsphinx: pip install 'meeting-platform[ai]'") from exc

requires = ("speech",)
KIND = "speech.recognition.pocketsphinx"
MODEL = "pocketsphinx-en-us"


@hookimpl
def register_ai_models(register: Any) -> None:
    register(
        MODEL,
        task="recognition",
        engine="pocketsphinx",
        path=str(pocketsphinx.get_model_path("en-us")),
        load="plugins.pocketsphinx.engine:load",
        check="plugins.pocketsphinx.engine:check",
        languages=("en",),
    )


@hookimpl
def register_job_types(register: Any) -> None:
    register(KIND, "plugins.pocketsphinx.engine:recognise", model=MODEL, timeout=600)


@hookimpl
def register_speech_engines(register: Any) -> None:
    register("recognition", "pocketsphinx", KIND, languages=("en",))


@hookimpl
def register_streaming_recognizers(register: Any, settings: Any) -> None:
    from plugins.pocketsphinx.streaming import open_stream

    register("pocketsphinx", open_stream, languages=("en",))
