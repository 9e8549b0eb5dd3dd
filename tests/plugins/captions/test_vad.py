"""Voice activity detection: utterances cut from live audio, with the real Silero model too."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plugins.captions.vad import RATE, WINDOW, WINDOW_BYTES, Segmenter, silero
from plugins.speech.audio import pcm16

HELLO = Path(__file__).parents[2] / "data" / "hello_world.wav"


def loud_is_speech(window: bytes) -> float:
    """A stand-in detector for the segmentation logic: loud windows are speech."""
    samples = np.frombuffer(window, dtype="<i2").astype(np.float64)
    return 1.0 if np.sqrt(np.mean(samples**2)) > 1000 else 0.0


def windows(*pattern: tuple[float, int]) -> bytes:
    """(level, windows) pairs: `level` 0 is silence, else a tone of that amplitude."""
    parts = []
    for level, count in pattern:
        t = np.arange(count * WINDOW) / RATE
        parts.append((np.sin(2 * np.pi * 300 * t) * level).astype("<i2").tobytes())
    return b"".join(parts)


def run(segmenter: Segmenter, pcm: bytes, chunk: int = 640) -> list:
    events = []
    for i in range(0, len(pcm), chunk):  # 20 ms pieces, as a track delivers them
        events += segmenter.push(pcm[i : i + chunk])
    return events + segmenter.flush()


def test_utterances_start_with_padding_and_end_after_silence() -> None:
    segmenter = Segmenter(loud_is_speech, min_silence=0.3, padding=0.2)
    # 1 s silence, 0.64 s speech, 1 s silence, 0.32 s speech, 1 s silence.
    pcm = windows((0, 31), (8000, 20), (0, 31), (8000, 10), (0, 31))
    events = run(segmenter, pcm)
    ends = [e for e in events if e.kind == "end"]
    assert len(ends) == 2
    assert abs(ends[0].start - (31 - 6) * WINDOW / RATE) < 1e-9  # 6 windows (0.2 s) of padding
    assert abs(ends[0].end - 51 * WINDOW / RATE) < 1e-9  # the last voiced window
    assert ends[1].start > ends[0].end and abs(ends[1].end - 92 * WINDOW / RATE) < 1e-9
    # Speech goes to the recognizer with padding and the silence before the end is noticed,
    # but never the long silences: 6 + 20 + 9 (0.3 s) windows per utterance at most.
    sent = sum(len(e.pcm) for e in events if e.kind == "speech") // WINDOW_BYTES
    assert sent == segmenter.speech_windows == (6 + 20 + 9) + (6 + 10 + 9)
    assert segmenter.windows == len(pcm) // WINDOW_BYTES


def test_silence_alone_sends_nothing() -> None:
    segmenter = Segmenter(loud_is_speech)
    assert run(segmenter, windows((0, 200))) == []
    assert segmenter.speech_windows == 0


def test_a_track_that_ends_mid_utterance_closes_it() -> None:
    events = run(Segmenter(loud_is_speech), windows((0, 5), (8000, 10)))
    assert events[-1].kind == "end" and events[-1].end == 15 * WINDOW / RATE


def test_long_speech_is_cut_at_the_longest_utterance() -> None:
    events = run(Segmenter(loud_is_speech, max_utterance=1.0), windows((8000, 100)))
    assert len([e for e in events if e.kind == "end"]) >= 3


def test_silero_finds_the_spoken_words() -> None:
    speech = pcm16(str(HELLO), RATE, None)
    silence = np.zeros(RATE, dtype="<i2")
    pcm = np.concatenate([silence, speech, silence, speech, silence]).astype("<i2").tobytes()
    segmenter = Segmenter(silero())
    ends = [e for e in run(segmenter, pcm) if e.kind == "end"]
    assert len(ends) == 2
    spoken = len(speech) / RATE
    # Each utterance lies around its words (the file has short silences at its edges).
    assert 0.8 < ends[0].start < 1.0 + 0.3 and ends[0].end < 1.0 + spoken + 0.1
    assert 2.0 + spoken - 0.2 < ends[1].start < 2.0 + spoken + 0.3
    assert segmenter.speech_windows * WINDOW / RATE < 2 * (spoken + 0.6)  # silence skipped
