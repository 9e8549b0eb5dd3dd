"""The track writer on its own: bursts after stalls, gaps, and a close that never blocks."""

from __future__ import annotations

import itertools
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from plugins.recording.recorder import TrackWriter


def tone_frame(index: int) -> av.AudioFrame:
    t = (np.arange(960) + index * 960) / 48000
    pcm = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = 48000, index * 960, Fraction(1, 48000)
    return frame


def test_a_burst_after_a_stall_and_a_gap_still_make_one_playable_track(tmp_path: Path) -> None:
    path = tmp_path / "audio.mka"
    writer = TrackWriter(path, "audio")
    arrivals = [i * 0.02 for i in range(50)]  # 1 s in real time
    arrivals += [1.5] * 25  # a stall, then 25 frames at once: ahead of the clock afterwards
    arrivals += [3.0 + i * 0.02 for i in range(50)]  # a 1 s gap (a mute), then real time again
    for index, at in enumerate(arrivals):
        writer.put((tone_frame(index), at))
    writer.close()
    writer.thread.join(10)
    assert not writer.thread.is_alive()
    with av.open(str(path)) as container:
        frames = list(container.decode(audio=0))
    pts = [float(f.pts * f.time_base) for f in frames]
    assert sum(f.samples for f in frames) == len(arrivals) * 960  # nothing lost
    assert pts == sorted(pts)  # never backwards
    assert 3.0 <= pts[-1] <= 4.2  # the gap kept its place on the clock
    # Two silences: the stall before the burst, and the mute.
    assert sum(1 for a, b in itertools.pairwise(pts) if b - a > 0.3) == 2


def test_close_never_blocks_even_when_the_writer_is_stuck(tmp_path: Path) -> None:
    writer = TrackWriter(tmp_path / "video.mkv", "video")
    blocker = threading.Event()
    writer.frames.put(("not a frame", 0.0))  # the writer drops this one and goes on
    for _ in range(writer.frames.maxsize * 2):
        writer.put((None, 0.0))  # more than the queue holds: the rest is dropped, not waited for
    closed = threading.Thread(target=writer.close)
    closed.start()
    closed.join(2)
    assert not closed.is_alive()
    blocker.set()
    writer.thread.join(10)
    assert not writer.thread.is_alive()
