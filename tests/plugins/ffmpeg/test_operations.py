"""Media operations on real clips written by PyAV; every output is probed and decoded again."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from plugins.ffmpeg import operations
from plugins.ffmpeg.operations import (
    FORMATS,
    encoder_available,
    extract_audio,
    extract_video,
    merge,
    thumbnail,
    transcode,
)
from plugins.media.probe import probe


class Progress(list[float]):
    """A progress callback that checks what it was told: 0..100, never down, 100 at the end."""

    def __call__(self, value: float) -> None:
        self.append(value)

    def check(self) -> None:
        assert self, "no progress was reported"
        assert all(0 <= value <= 100 for value in self)
        assert self == sorted(self)
        assert self[-1] == 100


def run(operation, *args, **kwargs) -> Path:
    progress = Progress()
    operation(*args, progress=progress, **kwargs)
    progress.check()
    return Path(args[1])


def decoded_audio(path: Path) -> np.ndarray:
    """The whole sound of a file as mono 48 kHz float samples."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=48000)
    with av.open(str(path)) as container:
        frames = [
            out.to_ndarray()[0]
            for frame in [*container.decode(audio=0), None]
            for out in resampler.resample(frame)
        ]
    return np.concatenate(frames)


def peak_frequency(samples: np.ndarray, rate: int = 48000) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def video_seconds(path: Path) -> float:
    """When the last decoded frame ends."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [frame.time for frame in container.decode(stream)]
        return max(times) + 1 / float(stream.average_rate)


def rgb_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_the_format_table_lists_only_real_encoders():
    for name, fmt in FORMATS.items():
        assert fmt.audio_codecs, name
        for codec in fmt.video_codecs:
            assert encoder_available(codec, "video"), codec
        for codec in fmt.audio_codecs:
            assert encoder_available(codec, "audio"), codec
    assert {"mp4", "mkv", "webm", "mov", "mp3", "wav", "ogg", "flac", "m4a"} <= set(FORMATS)
    assert FORMATS["webm"].video_codec in ("libvpx", "libvpx-vp9")
    assert not encoder_available("no-such-codec", "video")
    assert not encoder_available("aac", "video")
    assert set(operations.IMAGE_FORMATS) == {"jpeg", "png"}


def test_transcode_to_webm_keeps_the_tone(make_media, tmp_path):
    source = make_media("clip.mp4", tone=1000.0)
    info = probe(run(transcode, source, tmp_path / "out.webm", format="webm"))
    assert (info.mime_type, info.codec, info.audio_codec) == ("video/webm", "vp8", "opus")
    assert (info.width, info.height) == (320, 240)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert peak_frequency(decoded_audio(tmp_path / "out.webm")) == pytest.approx(1000, abs=5)


def test_transcode_to_a_smaller_mp4_with_a_bitrate(make_media, tmp_path):
    source = make_media("clip.webm")
    low = run(
        transcode, source, tmp_path / "low.mp4", format="mp4", width=160, height=120, bitrate=50_000
    )
    info = probe(low)
    assert (info.mime_type, info.codec, info.audio_codec) == ("video/mp4", "h264", "aac")
    assert (info.width, info.height) == (160, 120)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    with av.open(str(low)) as container:
        assert container.streams.video[0].bit_rate < 150_000
    high = run(transcode, source, tmp_path / "high.mp4", format="mp4", width=160, bitrate=2_000_000)
    assert high.stat().st_size > low.stat().st_size


def test_one_side_keeps_the_aspect_ratio_with_even_sizes(make_media, tmp_path):
    source = make_media("clip.mp4", seconds=0.5)
    info = probe(run(transcode, source, tmp_path / "out.mkv", format="mkv", width=100))
    assert (info.width, info.height) == (100, 74)  # 75 made even
    info = probe(run(transcode, source, tmp_path / "out.mov", format="mov", height=61))
    assert (info.width, info.height) == (80, 60)


def test_audio_only_inputs_give_audio_only_outputs(make_media, tmp_path):
    source = make_media("song.mp3", tone=330.0)
    info = probe(run(transcode, source, tmp_path / "out.mp4", format="mp4"))
    assert (info.file_type, info.mime_type, info.has_video) == ("audio", "audio/mp4", False)
    assert peak_frequency(decoded_audio(tmp_path / "out.mp4")) == pytest.approx(330, abs=5)


@pytest.mark.parametrize(("fmt", "codec"), [("mp3", "mp3"), ("wav", "pcm_s16le")])
def test_extract_audio(make_media, tmp_path, fmt, codec):
    source = make_media("clip.mp4", tone=600.0)
    info = probe(run(extract_audio, source, tmp_path / f"out.{fmt}", format=fmt))
    assert (info.file_type, info.codec, info.has_video) == ("audio", codec, False)
    assert info.duration == pytest.approx(2.0, abs=0.1)
    assert peak_frequency(decoded_audio(tmp_path / f"out.{fmt}")) == pytest.approx(600, abs=5)


def test_extract_video(make_media, tmp_path):
    info = probe(run(extract_video, make_media("clip.mp4"), tmp_path / "out.mp4", format="mp4"))
    assert (info.file_type, info.has_video, info.has_audio) == ("video", True, False)
    assert info.duration == pytest.approx(2.0, abs=0.1)


def test_concat(make_media, tmp_path):
    first = make_media("a.mp4", seconds=2.0, tone=440.0)
    second = make_media("b.webm", seconds=1.0, width=160, height=120, tone=880.0)
    out = run(merge, [first, second], tmp_path / "out.mp4", format="mp4", merge_type="concat")
    info = probe(out)
    assert (info.width, info.height, info.has_audio) == (320, 240, True)
    assert info.duration == pytest.approx(3.0, abs=0.1)
    assert video_seconds(out) == pytest.approx(3.0, abs=0.1)
    audio = decoded_audio(out)
    assert len(audio) / 48000 == pytest.approx(3.0, abs=0.1)  # in sync with the picture
    assert peak_frequency(audio[4800:86400]) == pytest.approx(440, abs=5)
    assert peak_frequency(audio[105600:139200]) == pytest.approx(880, abs=5)


def test_concat_fills_missing_sound_with_silence(make_media, tmp_path):
    mute = make_media("mute.mp4", seconds=1.0, audio=False)
    loud = make_media("loud.mp4", seconds=1.0, tone=500.0)
    out = run(merge, [mute, loud], tmp_path / "out.mkv", format="mkv", merge_type="concat")
    audio = decoded_audio(out)
    assert len(audio) / 48000 == pytest.approx(2.0, abs=0.1)
    assert np.abs(audio[:43000]).max() < 0.01
    assert peak_frequency(audio[52800:]) == pytest.approx(500, abs=5)


def test_overlay_puts_the_second_video_in_the_bottom_right_corner(make_media, tmp_path):
    first = make_media("a.mp4", seconds=2.0)
    second = make_media("b.mp4", seconds=1.0, width=160, height=120)
    out = run(merge, [first, second], tmp_path / "out.mp4", format="mp4", merge_type="overlay")
    info = probe(out)
    assert (info.width, info.height, info.has_audio) == (320, 240, True)
    assert info.duration == pytest.approx(2.0, abs=0.1)  # the first input's
    frame, original = rgb_frames(out)[0], rgb_frames(first)[0]
    # The test pattern is a left-to-right ramp: in the corner, the small copy starts dark again.
    assert original[235, 252].mean() > 170
    assert frame[235, 252].mean() < 80  # 12 px into the 80 px wide copy
    assert np.abs(frame[10, 10].astype(int) - original[10, 10]).max() < 30


def test_side_by_side(make_media, tmp_path):
    clips = [
        make_media("a.mp4", seconds=2.0),
        make_media("b.mp4", seconds=1.0, width=160, height=120),
        make_media("c.webm", seconds=1.5, width=101, height=60),
    ]
    out = run(merge, clips, tmp_path / "out.webm", format="webm", merge_type="side_by_side")
    info = probe(out)
    assert (info.height, info.has_audio) == (240, True)
    assert info.width == 320 + 320 + 404  # 101 x 60 at a height of 240
    assert info.width % 2 == 0
    assert info.duration == pytest.approx(2.0, abs=0.1)  # the longest input's


@pytest.mark.parametrize(("fmt", "size"), [("jpeg", (100, 80)), ("png", (64, 48))])
def test_thumbnail_size(make_media, tmp_path, fmt, size):
    out = run(
        thumbnail,
        make_media("clip.mp4"),
        tmp_path / "thumb",
        timestamp=1.0,
        width=size[0],
        height=size[1],
        format=fmt,
    )
    with Image.open(out) as image:
        assert (image.format.lower(), image.size) == (fmt, size)
    assert probe(out).file_type == "image"


def test_thumbnail_shows_the_frame_at_the_timestamp(make_media, tmp_path):
    out = run(
        thumbnail,
        make_media("clip.mp4", fps=25),
        tmp_path / "thumb.png",
        timestamp=1.0,
        width=320,
        height=240,
        format="png",
    )
    row = np.asarray(Image.open(out).convert("RGB"))[120].astype(int)
    bar = np.flatnonzero((row[:, 0] > 180) & (row[:, 2] < 90))  # the orange bar
    assert bar.min() == pytest.approx(25 * 4, abs=4)  # frame 25 draws it at x = 100


def test_invalid_parameters(make_media, tmp_path):
    clip, silent = make_media("clip.mp4", seconds=0.5), make_media("mute.mp4", audio=False)
    out = tmp_path / "out"
    cases = [
        (transcode, [clip, out], {"format": "avi"}, "unsupported output format"),
        (transcode, [clip, out], {"format": "webm", "video_codec": "libx264"}, "not available"),
        (transcode, [clip, out], {"format": "mp4", "width": 0}, "width must be"),
        (transcode, [clip, out], {"format": "mp4", "bitrate": -5}, "bitrate"),
        (extract_audio, [silent, out], {"format": "mp3"}, "no audio stream"),
        (extract_video, [clip, out], {"format": "wav"}, "holds no video"),
        (merge, [[clip], out], {"format": "mp4", "merge_type": "concat"}, "at least two"),
        (merge, [[clip] * 3, out], {"format": "mp4", "merge_type": "overlay"}, "exactly two"),
        (merge, [[clip] * 2, out], {"format": "mp4", "merge_type": "zip"}, "merge type"),
        (thumbnail, [clip, out], {"timestamp": 9.0, "width": 10, "height": 10}, "past the end"),
        (thumbnail, [clip, out], {"timestamp": 0, "width": 8, "format": "gif"}, "image format"),
    ]
    for operation, args, kwargs, message in cases:
        with pytest.raises(ValueError, match=message):
            operation(*args, progress=Progress(), **kwargs)
        assert not out.exists()
