"""Speech emotion engine: a SpeechBrain classifier from a local model folder.

`speechbrain_emotion.model_path` names a SpeechBrain model folder (`hyperparams.yaml` and its
checkpoints, e.g. SpeechBrain's IEMOCAP emotion-recognition-wav2vec2 model placed by the
operator). The model loads once per node in its host process (model `speechbrain-emotion`, job
type `speech.emotion.speechbrain`) and answers POST /api/v1/speech/emotion. Without a folder
configured, emotion requests answer 503 naming the setting. Nothing is ever downloaded.
torch and speechbrain are imported in the model's host only: the server imports this module too.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from kernel.api import PluginUnavailable, get_platform, hookimpl

for _module in ("torch", "speechbrain"):
    if importlib.util.find_spec(_module) is None:
        raise PluginUnavailable(
            f"needs {_module}: install torch (a CPU build) and speechbrain, see "
            "contrib/speechbrain-emotion/README.md"
        )

requires = ("speech",)
KIND = "speech.emotion.speechbrain"
MODEL = "speechbrain-emotion"
ENGINE = "speechbrain-emotion"
NOT_SET_UP = "set speechbrain_emotion.model_path to a local SpeechBrain emotion model folder"


@hookimpl
def register_ai_models(register: Any, settings: Any) -> None:
    model_path = settings.get("speechbrain_emotion.model_path")
    if model_path:
        register(
            MODEL,
            task="emotion",
            engine=ENGINE,
            path=str(model_path),
            load="speechbrain_emotion.engine:load",
            check="speechbrain_emotion.engine:check",
        )


@hookimpl
def register_job_types(register: Any, settings: Any) -> None:
    if settings.get("speechbrain_emotion.model_path"):
        register(KIND, "speechbrain_emotion.engine:classify", model=MODEL, timeout=600)


@hookimpl
def register_speech_engines(register: Any) -> None:
    if MODEL in get_platform().jobs.models:
        register("emotion", ENGINE, KIND, None)
    else:
        register("emotion", ENGINE, None, None, unavailable=NOT_SET_UP)
