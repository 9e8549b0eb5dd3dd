"""A live audio track that speaks tests/data/hello_world.wav between silences (48 kHz, 20 ms)."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from plugins.speech.audio import pcm16

HELLO = Path(__file__).parents[2] / "data" / "hello_world.wav"
TRACK_RATE = 48000
FRAME = 960  # 20 ms
ROOM_NOISE = 30  # standard deviation in 16-bit samples


def hello_samples(rate: int = TRACK_RATE) -> np.ndarray:
    return pcm16(str(HELLO), rate, None)


class SpeechTrack(MediaStreamTrack):
    """`silence` seconds, the words, `silence` seconds, ... `repeat` times; then silence forever
    (or the end of the track with `end=True`). `realtime` paces frames like a microphone. A
    quiet room's noise (about -60 dBFS) lies under it all: microphones never give digital
    silence, and PocketSphinx mishears words after stretches of exact zeros."""

    kind = "audio"

    def __init__(
        self, repeat: int = 1, silence: float = 1.0, realtime: bool = True, end: bool = False
    ) -> None:
        super().__init__()
        gap = np.zeros(int(silence * TRACK_RATE), dtype=np.int16)
        parts = [gap]
        self.utterance_ends: list[float] = []  # seconds into the track where the words end
        words = hello_samples()
        for _ in range(repeat):
            parts += [words, gap]
            self.utterance_ends.append((sum(map(len, parts)) - len(gap)) / TRACK_RATE)
        noise = np.random.default_rng(7).normal(0, ROOM_NOISE, sum(map(len, parts)))
        self.samples = np.clip(np.concatenate(parts) + noise, -32768, 32767).astype(np.int16)
        self.realtime, self.end = realtime, end
        self.position = 0
        self.started: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.end and self.position >= len(self.samples):
            self.stop()
            raise MediaStreamError
        self.started = self.started or time.time()
        if self.realtime:
            wait = self.started + self.position / TRACK_RATE - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
        else:
            await asyncio.sleep(0)
        chunk = self.samples[self.position : self.position + FRAME]
        if len(chunk) < FRAME:
            chunk = np.concatenate([chunk, self.samples[: FRAME - len(chunk)]])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = TRACK_RATE, self.position
        frame.time_base = Fraction(1, TRACK_RATE)
        self.position += FRAME
        return frame
