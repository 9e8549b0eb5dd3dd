"""Synthetic-speech detection engine: an ONNX model (onnxruntime) from a configured path.

`antispoof.model_path` names a model that takes log-mel features (input shape [N, 40], see
`features.py`) and answers the probability that the voice is synthetic ([N, 1]). Without a
configured model the engine is not set up (POST /api/v1/speech/synthesis-detection: 503
naming `antispoof.model_path`).
Nothing is downloaded: the operator puts the model file there.
"""

from __future__ import annotations

from typing import Any

from kernel.api import PluginUnavailable, get_platform, hookimpl

try:
    import onnxruntime  # noqa: F401
except ImportError as exc:
    raise PluginUnavailable("needs onnxruntime: pip install 'meeting-platform[ai]'") from exc

requires = ("speech",)
KIND = "speech.synthesis_detection.antispoof"
MODEL = "antispoof"


@hookimpl
def register_ai_models(register: Any, settings: Any) -> None:
    model_path = settings.get("antispoof.model_path")
    if model_path:
        register(
            MODEL,
            task="synthesis_detection",
            engine="antispoof",
            path=str(model_path),
            load="plugins.antispoof.engine:load",
        )


@hookimpl
def register_job_types(register: Any, settings: Any) -> None:
    if settings.get("antispoof.model_path"):
        register(KIND, "plugins.antispoof.engine:judge", model=MODEL, timeout=300)


@hookimpl
def register_speech_engines(register: Any) -> None:
    if MODEL in get_platform().jobs.models:
        register("synthesis_detection", "antispoof", KIND, None)
    else:
        hint = "set antispoof.model_path to an ONNX synthetic-speech model"
        register("synthesis_detection", "antispoof", None, None, unavailable=hint)
