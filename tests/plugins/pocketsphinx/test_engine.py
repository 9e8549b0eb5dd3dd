"""The PocketSphinx engine on its own: real speech, silence, and audio in another format."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pocketsphinx
import pytest

from plugins.pocketsphinx.engine import load, recognise

HELLO = Path(__file__).parents[2] / "data" / "hello_world.wav"


@pytest.fixture(scope="module")
def decoder():
    return load(pocketsphinx.get_model_path("en-us"))


def test_it_hears_hello_world_with_word_timings(decoder, tmp_path: Path) -> None:
    seen: list[float] = []
    result = recognise(decoder, {"path": str(HELLO)}, tmp_path, seen.append)
    assert result["text"] == "hello world"
    assert [w["word"] for w in result["segments"]] == ["hello", "world"]
    assert result["segments"][0]["end"] <= result["segments"][1]["start"]
    assert seen == sorted(seen) and seen[-1] == 90


def test_other_formats_are_resampled_first(decoder, tmp_path: Path) -> None:
    # The same speech as 44.1 kHz stereo MP3: PyAV decodes and resamples it for the engine.
    path = tmp_path / "hello.mp3"
    with av.open(str(HELLO)) as source, av.open(str(path), "w") as target:
        stream = target.add_stream("libmp3lame", rate=44100, layout="stereo")
        resampler = av.AudioResampler(format="s16p", layout="stereo", rate=44100)
        for frame in source.decode(audio=0):
            for out in resampler.resample(frame):
                target.mux(stream.encode(out))
        target.mux(stream.encode(None))
    result = recognise(decoder, {"path": str(path)}, tmp_path, lambda _: None)
    assert result["text"] == "hello world"


def test_silence_is_no_words(decoder, tmp_path: Path) -> None:
    path = tmp_path / "silence.raw"
    np.zeros(16000, dtype="<i2").tofile(path)
    result = recognise(decoder, {"path": str(path), "raw_rate": 16000}, tmp_path, lambda _: None)
    assert result["segments"] == [] and result["text"] == ""
