"""Composing a recording from per-participant track files written here with PyAV, as the
recording bot writes them (streamable Matroska, variable frame rate video, Opus or FLAC audio);
every output is decoded again and checked: size, duration, tile colours and the mixed tones."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from plugins.recording.compose import compose, grid

RED = (220, 30, 30)
BLUE = (30, 60, 220)
BLACK = (0, 0, 0)
RATE = 48000


def write_video(
    path: Path, seconds: float, colour: tuple[int, int, int], *, time_base: int = 1000
) -> Path:
    """A 320x240 H.264 .mkv: a solid colour with a moving white bar at the top, frames at an
    irregular rate (30-50 ms apart) as a WebRTC receiver delivers them."""
    with av.open(str(path), "w", format="matroska") as output:
        stream = output.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.time_base = Fraction(1, time_base)
        stream.codec_context.time_base = Fraction(1, time_base)
        picture = np.empty((240, 320, 3), np.uint8)
        milliseconds, index = 0, 0
        while milliseconds + 40 <= seconds * 1000:  # each frame lasts 40 ms (rate=25)
            picture[:] = colour
            left = index * 8 % 300
            picture[:20, left : left + 20] = 255
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = milliseconds * time_base // 1000
            frame.time_base = Fraction(1, time_base)
            output.mux(stream.encode(frame))
            milliseconds += (30, 40, 50)[index % 3]
            index += 1
        output.mux(stream.encode(None))
    return path


def write_audio(
    path: Path, seconds: float, tone: float, *, codec: str = "libopus", layout: str = "mono"
) -> Path:
    """A 48 kHz .mka sine tone (amplitude 0.5)."""
    with av.open(str(path), "w", format="matroska") as output:
        stream = output.add_stream(codec, rate=RATE, layout=layout)
        channels = 1 if layout == "mono" else 2
        wave = 0.5 * np.sin(2 * np.pi * tone * np.arange(round(seconds * RATE)) / RATE)
        source = av.AudioFrame.from_ndarray(
            np.tile(wave.astype(np.float32), (channels, 1)), format="fltp", layout=layout
        )
        source.sample_rate, source.pts = RATE, 0
        resampler = av.AudioResampler(
            format=stream.codec_context.format, layout=layout, rate=RATE, frame_size=960
        )
        for frame in [*resampler.resample(source), *resampler.resample(None)]:
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return path


def truncate(path: Path, fraction: float = 0.5) -> Path:
    """Cut a file as a killed recorder leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def decode(path: Path) -> dict:
    """Decode an output: container facts, small RGB snapshots by time, the audio as mono."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        facts = {
            "format": container.format.name,
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "duration": container.duration / av.time_base if container.duration else None,
        }
        snapshots: list[tuple[float, np.ndarray]] = []
        for frame in container.decode(video):
            small = frame.reformat(width=320, height=180, format="rgb24").to_ndarray()
            snapshots.append((float(frame.time), small))
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=RATE)
        chunks, start, peak = [], None, 0.0
        for frame in container.decode(audio=0):
            if start is None:
                start = float(frame.time or 0.0)
            peak = max(peak, float(np.abs(frame.to_ndarray()).max()))  # AAC, Opus: floats
            chunks += [out.to_ndarray()[0] for out in resampler.resample(frame)]
    facts["frames"] = snapshots
    facts["audio"] = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    facts["audio_start"] = start or 0.0
    facts["audio_peak"] = peak
    return facts


def snapshot(decoded: dict, t: float) -> np.ndarray:
    return min(decoded["frames"], key=lambda item: abs(item[0] - t))[1]


def colour_at(picture: np.ndarray, x: float, y: float) -> np.ndarray:
    """Mean RGB of a small patch around (x, y), given as fractions of the picture."""
    height, width = picture.shape[:2]
    cx, cy = int(x * width), int(y * height)
    return picture[cy - 4 : cy + 4, cx - 4 : cx + 4].reshape(-1, 3).mean(axis=0)


def assert_colour(actual: np.ndarray, expected: tuple[int, int, int], tolerance: int = 40):
    assert np.all(np.abs(actual - np.array(expected)) < tolerance), (actual, expected)


def tone_level(decoded: dict, start: float, stop: float, tone: float) -> float:
    """The spectrum's peak near `tone` in the [start, stop) seconds, relative to the window's
    strongest component (1.0: the loudest tone). A present tone must also stand well above the
    noise floor (the median of the spectrum), else it counts as absent (0.0)."""
    audio = decoded["audio"]
    lo = max(0, round((start - decoded["audio_start"]) * RATE))
    hi = round((stop - decoded["audio_start"]) * RATE)
    window = audio[lo:hi]
    assert len(window) > RATE // 4
    spectrum = np.abs(np.fft.rfft(window * np.hanning(len(window))))
    freqs = np.fft.rfftfreq(len(window), 1 / RATE)
    peak = spectrum[(freqs > tone - 15) & (freqs < tone + 15)].max()
    if peak < 100 * np.median(spectrum):
        return 0.0
    return float(peak / spectrum.max())


def present(decoded: dict, start: float, stop: float, tone: float) -> bool:
    return tone_level(decoded, start, stop, tone) > 0.1  # within 20 dB of the loudest


def absent(decoded: dict, start: float, stop: float, tone: float) -> bool:
    return tone_level(decoded, start, stop, tone) < 0.001  # 60 dB down


@pytest.fixture
def meeting(tmp_path: Path) -> list[dict]:
    """Alice from the start (red, 440 Hz Opus), Bob from 1.0 s (blue, 1000 Hz FLAC stereo)."""
    return [
        {
            "path": str(write_video(tmp_path / "alice.mkv", 3.0, RED, time_base=90000)),
            "kind": "video",
            "offset": 0.0,
            "participant": "alice",
        },
        {
            "path": str(write_audio(tmp_path / "alice.mka", 3.0, 440.0)),
            "kind": "audio",
            "offset": 0.0,
            "participant": "alice",
        },
        {
            "path": str(write_video(tmp_path / "bob.mkv", 2.0, BLUE)),
            "kind": "video",
            "offset": 1.0,
            "participant": "bob",
        },
        {
            "path": str(
                write_audio(tmp_path / "bob.mka", 2.0, 1000.0, codec="flac", layout="stereo")
            ),
            "kind": "audio",
            "offset": 1.0,
            "participant": "bob",
        },
    ]


def run(tracks: list[dict], workdir: Path, **params) -> tuple[dict, list[float]]:
    reports: list[float] = []
    params = {"tracks": tracks, "duration": 3.0, "quality": "720p", "format": "mp4", **params}
    workdir.mkdir(exist_ok=True)
    return compose(params, workdir, reports.append), reports


def test_two_participants_mp4(meeting, tmp_path):
    result, reports = run(meeting, tmp_path / "out")
    output = tmp_path / "out" / "output.mp4"
    assert output.is_file()
    assert not list((tmp_path / "out").glob("*partial*"))
    assert result["width"] == 1280 and result["height"] == 720
    assert result["participants"] == 2
    assert result["warnings"] == []
    assert result["duration"] == 3.0
    assert reports[-1] == 100 and reports == sorted(reports)

    decoded = decode(output)
    assert (decoded["video_codec"], decoded["audio_codec"]) == ("h264", "aac")
    assert (decoded["width"], decoded["height"]) == (1280, 720)
    assert decoded["duration"] == pytest.approx(3.0, rel=0.1)
    assert len(decoded["frames"]) == pytest.approx(75, abs=2)  # 25 fps constant

    # Side by side: Alice on the left from the start; Bob on the right only from 1.0 s.
    early, late = snapshot(decoded, 0.5), snapshot(decoded, 2.0)
    assert_colour(colour_at(early, 0.25, 0.5), RED)
    assert_colour(colour_at(early, 0.75, 0.5), BLACK)
    assert_colour(colour_at(late, 0.25, 0.5), RED)
    assert_colour(colour_at(late, 0.75, 0.5), BLUE)
    # 4:3 tiles in 640x720 cells: letterboxed above and below.
    assert_colour(colour_at(late, 0.25, 0.1), BLACK)
    assert_colour(colour_at(late, 0.75, 0.9), BLACK)

    # Both tones in the mix once Bob is in; Bob's tone absent before 1.0 s.
    assert present(decoded, 0.1, 0.9, 440)
    assert absent(decoded, 0.1, 0.9, 1000)
    assert present(decoded, 1.2, 2.8, 440)
    assert present(decoded, 1.2, 2.8, 1000)
    # Overlapping speakers (0.5 + 0.5) are limited, not clipped (AAC may overshoot a little).
    assert 0.8 < decoded["audio_peak"] < 1.05


def test_webm_output(meeting, tmp_path):
    result, _ = run(meeting, tmp_path / "out", format="webm")
    decoded = decode(tmp_path / "out" / "output.webm")
    assert (decoded["format"], decoded["video_codec"], decoded["audio_codec"]) == (
        "matroska,webm",
        "vp8",
        "opus",
    )
    assert (decoded["width"], decoded["height"]) == (1280, 720)
    assert decoded["duration"] == pytest.approx(3.0, rel=0.1)
    assert_colour(colour_at(snapshot(decoded, 2.0), 0.75, 0.5), BLUE)
    assert present(decoded, 1.2, 2.8, 1000)
    assert result["participants"] == 2


def test_mkv_output_1080p(meeting, tmp_path):
    result, _ = run(meeting, tmp_path / "out", format="mkv", quality="1080p")
    decoded = decode(tmp_path / "out" / "output.mkv")
    assert (decoded["video_codec"], decoded["audio_codec"]) == ("h264", "opus")
    assert (decoded["width"], decoded["height"]) == (result["width"], result["height"])
    assert (result["width"], result["height"]) == (1920, 1080)
    assert present(decoded, 0.1, 0.9, 440)


def test_truncated_track(meeting, tmp_path):
    """Carol's recorder was killed: half of her 4 s files are there; what decodes is used."""
    carol_video = truncate(write_video(tmp_path / "carol.mkv", 4.0, (30, 200, 30)))
    carol_audio = truncate(write_audio(tmp_path / "carol.mka", 4.0, 700.0))
    tracks = [
        *meeting,
        {"path": str(carol_video), "kind": "video", "offset": 0.5, "participant": "carol"},
        {"path": str(carol_audio), "kind": "audio", "offset": 0.5, "participant": "carol"},
    ]
    result, _ = run(tracks, tmp_path / "out")
    assert result["participants"] == 3
    assert result["warnings"] == []
    decoded = decode(tmp_path / "out" / "output.mp4")
    assert decoded["duration"] == pytest.approx(3.0, rel=0.1)
    # 3 participants: 2x2 grid, Carol (green) centred in the bottom row.
    assert_colour(colour_at(snapshot(decoded, 1.2), 0.5, 0.75), (30, 200, 30), tolerance=50)
    assert_colour(colour_at(snapshot(decoded, 1.2), 0.25, 0.25), RED)
    assert_colour(colour_at(snapshot(decoded, 1.2), 0.75, 0.25), BLUE)
    assert present(decoded, 0.6, 1.4, 700)
    # About 2 s of Carol's 4 s survived: from 0.5 s, she is gone well before 3.0 s.
    assert absent(decoded, 2.7, 3.0, 700)
    assert_colour(colour_at(snapshot(decoded, 2.9), 0.5, 0.75), BLACK)


def test_tracks_longer_than_duration_are_kept(meeting, tmp_path):
    result, _ = run(meeting, tmp_path / "out", duration=2.5)
    assert result["duration"] == 3.0  # the tracks last 3 s, not 2.5
    decoded = decode(tmp_path / "out" / "output.mp4")
    assert decoded["duration"] == pytest.approx(3.0, rel=0.1)


def test_rejoining_participant_keeps_one_tile(tmp_path):
    """Alice leaves after 1 s and rejoins at 2 s with a new track: still one tile of two."""
    green = (30, 200, 30)
    tracks = [
        {"path": str(write_video(tmp_path / "a1.mkv", 1.0, RED)), "participant": "alice"},
        {"path": str(write_video(tmp_path / "a2.mkv", 1.0, green)), "participant": "alice"},
        {"path": str(write_video(tmp_path / "b.mkv", 3.0, BLUE)), "participant": "bob"},
    ]
    for track, offset in zip(tracks, (0.0, 2.0, 0.0), strict=True):
        track.update(kind="video", offset=offset)
    pcm = write_audio(tmp_path / "b.mka", 3.0, 1000.0, codec="pcm_s16le")
    tracks.append({"path": str(pcm), "kind": "audio", "offset": 0.0, "participant": "bob"})
    result, _ = run(tracks, tmp_path / "out", format="mkv")
    assert result["participants"] == 2
    decoded = decode(tmp_path / "out" / "output.mkv")
    assert present(decoded, 0.2, 2.8, 1000)
    for t, colour in ((0.5, RED), (1.5, BLACK), (2.5, green)):
        assert_colour(colour_at(snapshot(decoded, t), 0.25, 0.5), colour, tolerance=50)
        assert_colour(colour_at(snapshot(decoded, t), 0.75, 0.5), BLUE)


def test_audio_only_gives_black_video(meeting, tmp_path):
    audio = [track for track in meeting if track["kind"] == "audio"]
    result, _ = run(audio, tmp_path / "out", format="webm")
    assert (result["width"], result["height"], result["participants"]) == (1280, 720, 2)
    decoded = decode(tmp_path / "out" / "output.webm")
    assert (decoded["width"], decoded["height"]) == (1280, 720)
    assert_colour(colour_at(snapshot(decoded, 1.5), 0.5, 0.5), BLACK)
    assert present(decoded, 1.2, 2.8, 440)


def test_empty_track_is_skipped_with_a_warning(meeting, tmp_path):
    empty = tmp_path / "dave.mkv"
    empty.touch()
    audio_in_video_slot = {**meeting[1], "kind": "video", "participant": "erin"}
    tracks = [
        *meeting,
        {"path": str(empty), "kind": "video", "offset": 0.0, "participant": "dave"},
        audio_in_video_slot,  # opens, but has no video stream
    ]
    result, _ = run(tracks, tmp_path / "out")
    assert result["participants"] == 2
    assert len(result["warnings"]) == 2
    assert "dave.mkv" in result["warnings"][0] and "alice.mka" in result["warnings"][1]
    decoded = decode(tmp_path / "out" / "output.mp4")
    assert_colour(colour_at(snapshot(decoded, 2.0), 0.75, 0.5), BLUE)  # still side by side


def test_only_a_cut_header(tmp_path):
    """Killed right after it started: Matroska headers, no complete frame. Black, 1 s."""
    video = write_video(tmp_path / "alice.mkv", 3.0, RED)
    truncate(video, 1000 / video.stat().st_size)
    result, _ = run(
        [{"path": str(video), "kind": "video", "offset": 0.0}], tmp_path / "out", duration=1.0
    )
    assert result["duration"] == 1.0
    assert result["participants"] == 0
    assert len(result["warnings"]) == 2 and "alice.mkv" in result["warnings"][0]
    decoded = decode(tmp_path / "out" / "output.mp4")
    assert len(decoded["frames"]) == 25
    assert_colour(colour_at(snapshot(decoded, 0.5), 0.5, 0.5), BLACK)


def test_no_tracks(tmp_path):
    with pytest.raises(ValueError, match="no tracks"):
        compose(
            {"tracks": [], "duration": 3.0, "quality": "720p", "format": "mp4"}, tmp_path, print
        )


def test_unopenable_tracks(tmp_path):
    garbage = tmp_path / "garbage.mkv"
    garbage.write_bytes(b"this is not a media file" * 100)
    missing = {"path": str(tmp_path / "missing.mkv"), "kind": "video", "offset": 0.0}
    with pytest.raises(ValueError, match="does not exist"):
        run([missing], tmp_path / "out")
    with pytest.raises(ValueError, match="cannot open"):
        run([{**missing, "path": str(garbage)}], tmp_path / "out")
    assert not list((tmp_path / "out").iterdir())


@pytest.mark.parametrize(
    "params",
    [{"quality": "4k"}, {"format": "avi"}, {"duration": -1}],
)
def test_invalid_parameters(meeting, tmp_path, params):
    with pytest.raises(ValueError):
        run(meeting, tmp_path / "out", **params)


def test_grid():
    assert [grid(n) for n in (1, 2, 3, 4, 5, 9, 10)] == [
        (1, 1),
        (2, 1),
        (2, 2),
        (2, 2),
        (3, 3),
        (3, 3),
        (4, 4),
    ]
