"""Rendering the transcript as WebVTT."""

from __future__ import annotations

from plugins.captions.service import timestamp, webvtt


def test_timestamps() -> None:
    assert timestamp(0) == "00:00:00.000"
    assert timestamp(61.5) == "00:01:01.500"
    assert timestamp(3723.0456) == "01:02:03.046"
    assert timestamp(-1) == "00:00:00.000"


def test_cues_with_speakers_escaped_text_and_positive_length() -> None:
    vtt = webvtt(
        [
            {"start": 1.0, "end": 2.25, "text": "hello world", "username": "ann", "user_id": 1},
            {"start": 3.0, "end": 3.0, "text": "a <b> & c --> d", "username": None, "user_id": 7},
            {"start": 4.0, "end": 5.0, "text": "line\n\nbreak", "username": None, "user_id": None},
        ]
    )
    assert vtt.splitlines() == [
        "WEBVTT",
        "",
        "1",
        "00:00:01.000 --> 00:00:02.250",
        "<v ann>hello world",
        "",
        "2",
        "00:00:03.000 --> 00:00:03.001",
        "<v user 7>a &lt;b&gt; &amp; c --&gt; d",
        "",
        "3",
        "00:00:04.000 --> 00:00:05.000",
        "line break",
    ]
    assert webvtt([]) == "WEBVTT\n"
