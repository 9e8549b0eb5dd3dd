"""A track's captions: real Silero VAD and PocketSphinx in the track's thread."""

from __future__ import annotations

from plugins.captions.live import TrackCaptioner
from plugins.pocketsphinx.streaming import open_stream

from .speech_track import SpeechTrack


async def test_a_track_speaking_twice_gets_partials_and_two_finals() -> None:
    captions: list[dict] = []

    async def emit(caption: dict) -> None:
        captions.append(caption)

    captioner = TrackCaptioner(open_stream, "en", emit, offset=10.0)
    await captioner.run(SpeechTrack(repeat=2, realtime=False, end=True))
    finals = [c for c in captions if c["final"]]
    assert [c["text"] for c in finals] == ["hello world", "hello world"]
    assert all(not c["final"] and c["text"] for c in captions if c not in finals)
    first, second = finals
    # The words are at 1.0-2.3 s and 3.3-4.6 s of the track, which began 10 s into the meeting.
    assert 10.8 < first["start"] < first["end"] < 12.5 < second["start"] < second["end"] < 14.9
    stats = captioner.stats
    assert 5.5 < stats.audio_seconds < 5.7
    assert stats.speech_seconds < 4.5  # the silences never reached the recognizer
    assert stats.dropped_frames == 0 and len(stats.finals) == 2
