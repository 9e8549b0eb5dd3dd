"""Runs in the model's host process: decode the audio to 16 kHz mono, let PocketSphinx listen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from plugins.speech.audio import pcm16

FRAMES_PER_SECOND = 100
SILENCE_RMS = 10  # about -70 dBFS


def load(path: str) -> Any:
    """A decoder on the US English model at `path` (acoustic model, language model, dictionary)."""
    from pocketsphinx import Decoder

    model = Path(path)
    return Decoder(
        hmm=str(model / "en-us"),
        lm=str(model / "en-us.lm.bin"),
        dict=str(model / "cmudict-en-us.dict"),
    )


def check(decoder: Any, params: dict[str, Any], workdir: Path, progress: Any) -> dict[str, Any]:
    """Health check: decode a fifth of a second of quiet noise (an answer proves the model)."""
    noise = np.random.default_rng(0).normal(0, 300, 3200).astype("<i2")
    decoder.start_utt()
    decoder.process_raw(noise.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return {"text": hypothesis.hypstr if hypothesis else ""}


def recognise(decoder: Any, params: dict[str, Any], workdir: Path, progress: Any) -> dict[str, Any]:
    samples = pcm16(params["path"], 16000, params.get("raw_rate"))
    progress(10)
    silent = {"text": "", "confidence": 0.0, "language": "en", "segments": []}
    if np.sqrt(np.mean(samples.astype(np.float64) ** 2)) < SILENCE_RMS:
        return silent  # PocketSphinx "hears" words in digital silence: do not ask it
    decoder.start_utt()
    decoder.process_raw(samples.tobytes(), full_utt=True)
    decoder.end_utt()
    progress(90)
    hypothesis = decoder.hyp()
    if hypothesis is None:
        return silent
    words = [
        {
            "word": seg.word,
            "start": seg.start_frame / FRAMES_PER_SECOND,
            "end": seg.end_frame / FRAMES_PER_SECOND,
            "confidence": round(float(seg.prob), 4),
        }
        for seg in decoder.seg()
        if not seg.word.startswith(("<", "["))
    ]
    return {
        "text": hypothesis.hypstr,
        "confidence": round(float(hypothesis.prob), 4),
        "language": "en",
        "segments": words,
    }
