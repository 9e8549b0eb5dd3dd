"""Runs in the model's host process: features of the clip, then the ONNX model judges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugins.antispoof.features import log_mel
from plugins.speech.audio import pcm16


def load(path: str) -> Any:
    import onnxruntime

    if not Path(path).is_file():
        raise ValueError(f"the antispoof model is missing: {path!r}")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])


def judge(session: Any, params: dict[str, Any], workdir: Path, progress: Any) -> dict[str, Any]:
    features = log_mel(pcm16(params["path"], 16000, params.get("raw_rate")))
    progress(40)
    name = session.get_inputs()[0].name
    scores = session.run(None, {name: features})[0].reshape(-1)
    probability = float(scores.mean())  # the clip's frames vote
    return {
        "is_synthetic": probability >= 0.5,
        "probability": round(probability, 4),
        "confidence": round(abs(probability - 0.5) * 2, 4),
    }
