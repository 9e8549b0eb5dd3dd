"""Vosk (Kaldi) recognition; the job functions run in the model's host process.

`load` opens the model directory once; each job gets its own `KaldiRecognizer` on it (cheap),
free or restricted to the request's phrases (`grammar`, on models with a runtime graph).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from plugins.speech.audio import pcm16

CHUNK_SECONDS = 0.5  # audio fed per call: progress moves, final results come per utterance
DEFAULT_RATE = 16000
# A model's feature configuration names the rate it was trained at (else Vosk's usual 16 kHz).
RATE_OPTION = re.compile(r"^--sample-frequency=(\d+)", re.MULTILINE)


class VoskModel:
    """A loaded Vosk model and the audio rate it wants."""

    def __init__(self, model: Any, sample_rate: int) -> None:
        self.model = model
        self.sample_rate = sample_rate

    def recognizer(self, grammar: list[str] | None = None) -> Any:
        from vosk import KaldiRecognizer

        if grammar:
            # ensure_ascii=False: Vosk looks the words up as UTF-8, not as \\u escapes.
            recognizer = KaldiRecognizer(
                self.model, self.sample_rate, json.dumps(grammar, ensure_ascii=False)
            )
        else:
            recognizer = KaldiRecognizer(self.model, self.sample_rate)
        recognizer.SetWords(True)
        return recognizer


def model_rate(path: Path) -> int:
    for name in ("mfcc.conf", "fbank.conf"):
        conf = path / "conf" / name
        if conf.is_file() and (match := RATE_OPTION.search(conf.read_text(errors="replace"))):
            return int(match.group(1))
    return DEFAULT_RATE


def check_model_dir(path: str) -> Path:
    """The model directory, or ValueError naming the path and what is wrong with it."""
    model = Path(path)
    if not model.is_dir():
        raise ValueError(f"vosk.model_path: {path!r} is not a directory")
    if not (model / "am" / "final.mdl").is_file() and not (model / "final.mdl").is_file():
        raise ValueError(f"vosk.model_path: {path!r} is not a Vosk model (no am/final.mdl)")
    return model


def open_model(path: str) -> VoskModel:
    import vosk

    model = check_model_dir(path)
    vosk.SetLogLevel(-1)  # Kaldi's per-recognizer chatter would flood the node's log
    try:
        loaded = vosk.Model(str(model))
    except Exception as exc:  # Vosk answers a bare Exception("Failed to create a model")
        raise ValueError(f"vosk.model_path: {path!r} cannot be loaded: {exc}") from None
    return VoskModel(loaded, model_rate(model))


def load(path: str) -> VoskModel:
    return open_model(path)


def check(model: VoskModel, params: dict[str, Any], workdir: Path, progress: Any) -> dict[str, Any]:
    """Health check: a fifth of a second of quiet noise through a recognizer."""
    noise = np.random.default_rng(0).normal(0, 300, model.sample_rate // 5).astype("<i2")
    recognizer = model.recognizer()
    recognizer.AcceptWaveform(noise.tobytes())
    return {"text": json.loads(recognizer.FinalResult()).get("text", "")}


def recognise(
    model: VoskModel, params: dict[str, Any], workdir: Path, progress: Any
) -> dict[str, Any]:
    samples = pcm16(params["path"], model.sample_rate, params.get("raw_rate"))
    progress(5)
    recognizer = model.recognizer(params.get("grammar"))
    chunk = int(model.sample_rate * CHUNK_SECONDS)
    words: list[dict[str, Any]] = []
    for start in range(0, len(samples), chunk):
        if recognizer.AcceptWaveform(samples[start : start + chunk].tobytes()):
            words += json.loads(recognizer.Result()).get("result", [])
        progress(5 + int(90 * min(1.0, (start + chunk) / len(samples))))
    words += json.loads(recognizer.FinalResult()).get("result", [])
    segments = [
        {
            "word": word["word"],
            "start": round(float(word["start"]), 3),
            "end": round(float(word["end"]), 3),
            "confidence": round(float(word["conf"]), 4),
        }
        for word in words
        if word.get("word") and word["word"] != "[unk]"
    ]
    confidence = sum(w["confidence"] for w in segments) / len(segments) if segments else 0.0
    return {
        "text": " ".join(w["word"] for w in segments),
        "confidence": round(confidence, 4),
        "language": params.get("language", ""),
        "segments": segments,
    }
