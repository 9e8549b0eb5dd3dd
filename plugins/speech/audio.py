"""Audio for engines, in the worker process: any container or codec PyAV decodes, resampled."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np


def pcm16(path: str | Path, rate: int = 16000, raw_rate: int | None = None) -> np.ndarray:
    """Mono 16-bit samples at `rate` from `path` (raw s16le at `raw_rate` if given)."""
    if raw_rate is not None:
        samples = np.fromfile(path, dtype="<i2")
        if raw_rate == rate:
            return samples
        positions = np.arange(0, len(samples), raw_rate / rate)
        return np.interp(positions, np.arange(len(samples)), samples).astype(np.int16)
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise ValueError(f"the audio cannot be read: {exc}") from None
    with container:
        if not container.streams.audio:
            raise ValueError("the input has no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in container.decode(audio=0)
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    if not chunks:
        raise ValueError("the audio is empty")
    return np.concatenate(chunks).astype(np.int16)
