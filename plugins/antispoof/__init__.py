"""Synthetic-speech detection engine: an ONNX model (onnxruntime) from a configured path.

`antispoof.model_path` names a model that takes log-mel features (input shape [N, 40], see
`features.py`) and answers the probability that the voice is synthetic ([N, 1]). Without a
configured model the engine is not offered (POST /api/v1/speech/synthesis-detection: 503).
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


@hookimpl
def register_job_types(register: Any) -> None:
    register(KIND, "plugins.antispoof.engine:judge", timeout=300)


@hookimpl
def register_speech_engines(register: Any) -> None:
    model_path = get_platform().settings.get("antispoof.model_path")
    if model_path:
        register("synthesis_detection", "antispoof", KIND, None, {"model_path": str(model_path)})
