"""PocketSphinx as a streaming recognizer: live chunks in, partials while speaking, a final."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from plugins.pocketsphinx.streaming import PocketSphinxStream, open_stream
from plugins.speech.audio import pcm16

HELLO = Path(__file__).parents[2] / "data" / "hello_world.wav"
CHUNK = 640  # 20 ms at 16 kHz, as a live track delivers it


@pytest.fixture(scope="module")
def stream() -> PocketSphinxStream:
    return open_stream("en")


def feed(stream: PocketSphinxStream, samples: np.ndarray) -> list[dict]:
    pcm = samples.astype("<i2").tobytes()
    results = [stream.accept(pcm[i : i + CHUNK * 2]) for i in range(0, len(pcm), CHUNK * 2)]
    return [r for r in results if r is not None]


def test_live_chunks_give_partials_then_the_exact_final(stream: PocketSphinxStream) -> None:
    assert stream.sample_rate == 16000
    partials = feed(stream, pcm16(str(HELLO), 16000, None))
    assert partials and all(p["final"] is False and p["text"] for p in partials)
    final = stream.finish()
    assert final == {"text": "hello world", "final": True}
    assert stream.finish() is None  # nothing left of that utterance


def test_the_next_utterance_starts_afresh(stream: PocketSphinxStream) -> None:
    feed(stream, pcm16(str(HELLO), 16000, None))
    assert stream.finish() == {"text": "hello world", "final": True}


def test_silence_gives_no_words(stream: PocketSphinxStream) -> None:
    assert feed(stream, np.zeros(16000)) == []
    assert stream.finish() is None


def test_the_plugin_registers_it_for_english() -> None:
    import plugins.pocketsphinx as plugin

    found = []
    plugin.register_streaming_recognizers(
        register=lambda name, opener, languages=("en",): found.append((name, opener, languages)),
        settings={},
    )
    assert found == [("pocketsphinx", open_stream, ("en",))]
