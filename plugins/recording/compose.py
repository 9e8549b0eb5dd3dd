"""Compose a recorded meeting from per-participant track files: a video grid and an audio mix.

`compose` is a pure function run in a worker process (no asyncio, no database). During the
meeting a WebRTC bot writes each participant track to its own streamable Matroska file
(video `.mkv`, audio `.mka`) with a start offset relative to the start of the recording. Here
every track is decoded as a stream (never loaded whole), so memory stays flat for long meetings:

- Video: one tile per participant in a grid (1 -> full frame, 2 -> side by side, 3-4 -> 2x2,
  5-9 -> 3x3, ...), 25 fps constant frame rate. Each tile shows the participant's latest frame at
  the output time (black before the track starts and after it ends), scaled by swscale to fit
  its cell with the aspect ratio kept (letterbox). Tiles are put together with numpy on
  yuv420p planes, and a tile is scaled again only when its source frame changes.
- Audio: every track resampled to 48 kHz stereo, placed at its offset and summed; a soft knee
  limiter (linear below -1 dBFS) keeps overlapping speakers from clipping.
- A track's time zero is its first packet: `offset` is when that first packet plays in the
  recording, whatever timestamps the recorder started from.
- Track files may be truncated (the recorder was killed): demuxing and decoding stop at the
  first error and what decoded until then is kept.
- The output lasts the requested duration, or longer if a track ends later (never cutting a
  track by more than half an output frame).
- Without any video track the output is still a video (black frames at the requested size) so
  that players behave; without any audio track it still has a (silent) audio stream.

Invalid parameters, no tracks at all, a missing track file or one FFmpeg cannot open raise
ValueError. A track that is empty (0 bytes), or opens but has no stream of its kind or nothing
decodable, is skipped and reported in the result's `warnings`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

Progress = Callable[[float], None]

FPS = 25
SAMPLE_RATE = 48000
SIZES = {"720p": (1280, 720), "1080p": (1920, 1080)}
# muxer, video encoder, audio encoder, muxer options
FORMATS: dict[str, tuple[str, str, str, dict[str, str]]] = {
    "mp4": ("mp4", "libx264", "aac", {"movflags": "+faststart"}),
    "webm": ("webm", "libvpx", "libopus", {}),
    "mkv": ("matroska", "libx264", "libopus", {}),
}
# libvpx encodes on one thread unless told otherwise; its threads wait on each other, so on a
# busy machine with few cores more threads are slower (and erratic), not faster.
THREADS = str(max(1, min((os.cpu_count() or 1) // 2, 4)))
VIDEO_OPTIONS = {
    "libx264": {"preset": "veryfast"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8", "threads": THREADS},
}
# libvpx has no constant-quality default worth using: give it a bitrate for the output size.
VPX_BITRATE = {"720p": 2_500_000, "1080p": 4_500_000}
AUDIO_BITRATE = 128_000
KEYFRAME_SECONDS = 4
BLACK_Y, BLACK_UV = 16, 128
LIMIT = 0.89  # -1 dBFS: the mix is linear below, softly compressed towards 1.0 above
# An audio frame whose timestamp is this far from where the previous one ended is placed at its
# timestamp (a gap or a jump in the recording); closer ones are played back to back.
RESYNC_SECONDS = 0.05
MAX_DECODE_ERRORS = 20  # consecutive undecodable packets before a track is given up
PROGRESS_STEP = 1.0  # percent


@dataclass
class Track:
    path: Path
    kind: str
    offset: float
    participant: str
    start: float = 0.0  # the first packet's timestamp in the file (seconds)
    end: float = 0.0  # when the track ends in the recording (seconds)
    hold: float = 1 / FPS  # how long a video track's last frame stays on screen
    packets: int = 0
    decoded: int = 0  # frames decoded so far


def compose(params: dict, workdir: Path, progress: Progress) -> dict:
    """Write `workdir / f"output.{format}"`; return its duration, size and participant count."""
    quality = params.get("quality", "720p")
    if quality not in SIZES:
        raise ValueError(f"quality must be one of {', '.join(SIZES)}, not {quality!r}")
    fmt = params.get("format", "mp4")
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    requested = params.get("duration") or 0.0
    if not isinstance(requested, int | float) or not math.isfinite(requested) or requested < 0:
        raise ValueError(f"duration must be a non-negative number of seconds, not {requested!r}")
    tracks = _parse_tracks(params.get("tracks"))

    warnings: list[str] = []
    usable: list[Track] = []
    for track in tracks:
        problem = _probe(track)
        if problem:
            warnings.append(f"skipped {track.kind} track {track.path.name}: {problem}")
        else:
            usable.append(track)
    # The requested duration, longer if a track ends later (to the nearest output frame: an
    # Opus track's padding or a guessed last frame duration does not add a frame).
    frames = max(
        [math.ceil(float(requested) * FPS - 1e-6), *(round(track.end * FPS) for track in usable)]
    )
    if frames <= 0:
        raise ValueError("nothing to compose: the duration is 0 and no track has any media")

    width, height = SIZES[quality]
    workdir = Path(workdir)
    output_path = workdir / f"output.{fmt}"
    partial = workdir / f"output.partial.{fmt}"
    try:
        _write(partial, fmt, quality, (width, height), frames, usable, progress, warnings)
        os.replace(partial, output_path)
    finally:
        partial.unlink(missing_ok=True)

    for track in usable:
        if not track.decoded:
            warnings.append(
                f"skipped {track.kind} track {track.path.name}: nothing could be decoded"
            )
    participants = {track.participant for track in usable if track.decoded}
    progress(100.0)
    return {
        "duration": frames / FPS,
        "width": width,
        "height": height,
        "participants": len(participants),
        "warnings": warnings,
    }


def _parse_tracks(raw: Any) -> list[Track]:
    if not raw:
        raise ValueError("no tracks to compose")
    if not isinstance(raw, list):
        raise ValueError("tracks must be a list")
    tracks = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not item.get("path"):
            raise ValueError(f"track {index} has no path")
        kind = item.get("kind")
        if kind not in ("audio", "video"):
            raise ValueError(f"track {index}: kind must be 'audio' or 'video', not {kind!r}")
        offset = item.get("offset") or 0.0
        if not isinstance(offset, int | float) or not math.isfinite(offset) or offset < 0:
            raise ValueError(f"track {index}: offset must be a non-negative number of seconds")
        participant = str(item.get("participant") or f"track-{index}")
        tracks.append(Track(Path(item["path"]), kind, float(offset), participant))
    return tracks


def _open(track: Track) -> Any:
    """Open a track file; ValueError when it cannot be opened at all."""
    try:
        return av.open(str(track.path), "r")
    except (av.FFmpegError, OSError) as error:
        raise ValueError(f"cannot open {track.kind} track {track.path}: {error}") from error


def _probe(track: Track) -> str | None:
    """Demux a track without decoding: its first timestamp and its end. A problem or None."""
    if not track.path.is_file():
        raise ValueError(f"{track.kind} track {track.path} does not exist")
    if track.path.stat().st_size == 0:
        return "the file is empty"
    with _open(track) as container:
        streams = container.streams.video if track.kind == "video" else container.streams.audio
        if not streams:
            return f"no {track.kind} stream"
        stream = streams[0]
        time_base = stream.time_base or Fraction(1, 1000)
        first = last = None
        last_duration = 0
        with contextlib.suppress(av.FFmpegError, OSError):
            for packet in container.demux(stream):
                pts = packet.pts if packet.pts is not None else packet.dts
                if pts is None or packet.size == 0:
                    continue
                track.packets += 1
                first = pts if first is None else min(first, pts)
                if last is None or pts >= last:
                    last, last_duration = pts, packet.duration or 0
        if not track.packets or first is None or last is None:
            return "no packets"
        track.start = float(first * time_base)
        span = float((last - first) * time_base)
        # Without packet durations (usual for Matroska video) the last frame ends the track;
        # on screen it stays for the mean frame interval.
        track.end = track.offset + span + float(last_duration * time_base)
        if track.packets > 1:
            track.hold = min(span / (track.packets - 1), 1.0)
    return None


def _frames(track: Track, stack: contextlib.ExitStack) -> Iterator[tuple[float, Any]]:
    """Decoded frames of a track with their time in the recording, until its end or an error."""
    container = stack.enter_context(_open(track))
    streams = container.streams.video if track.kind == "video" else container.streams.audio
    stream = streams[0]
    stream.thread_type = "AUTO"
    time_base = stream.time_base or Fraction(1, 1000)
    errors = 0
    previous = None

    def decoded(packet: Any) -> list[Any]:
        nonlocal errors
        try:
            frames = packet.decode()
        except av.FFmpegError:
            errors += 1
            return []
        errors = 0
        return frames

    try:
        for packet in container.demux(stream):
            for frame in decoded(packet):
                pts = frame.pts
                if pts is None:
                    seconds = previous + 1 / FPS if previous is not None else track.start
                else:
                    seconds = float(pts * (frame.time_base or time_base))
                previous = seconds
                track.decoded += 1
                yield track.offset + seconds - track.start, frame
            if errors >= MAX_DECODE_ERRORS:
                break
    except (av.FFmpegError, OSError):
        pass  # truncated or damaged: keep what decoded so far


class VideoSource:
    """A video track's frame on screen at a given output time, scaled for its tile."""

    def __init__(self, track: Track, stack: contextlib.ExitStack) -> None:
        self.track = track
        self.frames = _frames(track, stack)
        self.current: tuple[float, Any] | None = None
        self.upcoming = next(self.frames, None)
        self.version = 0  # changes with the frame on screen

    def at(self, t: float) -> Any | None:
        """The frame to show at output time t, or None (not started, or ended)."""
        while self.upcoming is not None and self.upcoming[0] <= t:
            self.current = self.upcoming
            self.version += 1
            self.upcoming = next(self.frames, None)
        if self.current is None:
            return None
        if self.upcoming is None and t >= max(self.track.end, self.current[0] + self.track.hold):
            return None
        return self.current[1]


@dataclass
class Tile:
    """One participant's cell of the grid; their video tracks take turns (rejoins)."""

    x: int
    y: int
    width: int
    height: int
    sources: list[VideoSource] = field(default_factory=list)
    key: tuple[int, int] | None = None  # (source index, version) of the cached picture
    picture: tuple[int, int, list[np.ndarray]] | None = None  # left, top, Y/U/V planes

    def draw(self, t: float, planes: list[np.ndarray]) -> None:
        shown = None
        for index, source in enumerate(self.sources):
            frame = source.at(t)
            if frame is not None:
                shown = index, frame  # the latest-starting active track wins
        if shown is None:
            return
        index, frame = shown
        key = (index, self.sources[index].version)
        if key != self.key:
            self.key, self.picture = key, self._scale(frame)
        assert self.picture is not None
        left, top, scaled = self.picture
        for plane, part, shift in zip(planes, scaled, (0, 1, 1), strict=True):
            x, y = (self.x + left) >> shift, (self.y + top) >> shift
            plane[y : y + part.shape[0], x : x + part.shape[1]] = part

    def _scale(self, frame: Any) -> tuple[int, int, list[np.ndarray]]:
        scale = min(self.width / frame.width, self.height / frame.height)
        width = min(_even(frame.width * scale), self.width)
        height = min(_even(frame.height * scale), self.height)
        scaled = frame.reformat(width=width, height=height, format="yuv420p")
        parts = []
        for index, plane in enumerate(scaled.planes):
            w, h = (width, height) if index == 0 else (width // 2, height // 2)
            rows = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)
            parts.append(rows[:h, :w].copy())
        left = (self.width - width) // 2 & ~1
        top = (self.height - height) // 2 & ~1
        return left, top, parts


def _even(value: float) -> int:
    return max(2, int(value + 1e-6) // 2 * 2)


def grid(count: int) -> tuple[int, int]:
    """(columns, rows) for count tiles: 1x1, 2x1, 2x2, 3x3, 4x4, ..."""
    if count <= 1:
        return 1, 1
    if count == 2:
        return 2, 1
    side = math.ceil(math.sqrt(count))
    return side, side


def _layout(sources: list[VideoSource], width: int, height: int) -> list[Tile]:
    participants: dict[str, list[VideoSource]] = {}
    for source in sources:
        if source.upcoming is None:
            continue  # not a single frame decodes: no tile (the track is reported as skipped)
        participants.setdefault(source.track.participant, []).append(source)
    columns, rows = grid(len(participants))
    cell_w, cell_h = (width // columns) & ~1, (height // rows) & ~1
    left0, top0 = (width - columns * cell_w) // 2 & ~1, (height - rows * cell_h) // 2 & ~1
    tiles = []
    for index, own in enumerate(participants.values()):
        row, column = divmod(index, columns)
        in_row = min(columns, len(participants) - row * columns)
        left = left0 + (columns - in_row) * cell_w // 2 & ~1  # centre a short last row
        own.sort(key=lambda source: source.track.offset)
        tiles.append(Tile(left + column * cell_w, top0 + row * cell_h, cell_w, cell_h, sources=own))
    return tiles


class AudioSource:
    """An audio track resampled to 48 kHz stereo float, read by sample position in the mix."""

    def __init__(self, track: Track, stack: contextlib.ExitStack) -> None:
        self.frames = _frames(track, stack)
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
        self.pending: deque[tuple[int, np.ndarray]] = deque()  # (position, samples (2, n))
        self.position: int | None = None  # where the next resampled sample goes
        self.done = False

    def _pull(self) -> None:
        item = next(self.frames, None)
        if item is None:
            self.done = True
            frames = self._resample(None)
        else:
            seconds, frame = item
            wanted = round(seconds * SAMPLE_RATE)
            if self.position is None or abs(wanted - self.position) > RESYNC_SECONDS * SAMPLE_RATE:
                self.position = wanted
            frames = self._resample(frame)
        for out in frames:
            samples = out.to_ndarray().astype(np.float32, copy=False)
            if self.position is None:  # flushing a track that never decoded anything
                break
            self.pending.append((self.position, samples))
            self.position += samples.shape[1]

    def _resample(self, frame: Any) -> list[Any]:
        if frame is not None:
            frame.pts = None  # placement is ours; the resampler only converts
        try:
            return self.resampler.resample(frame)
        except (av.FFmpegError, ValueError):
            if frame is None:
                return []
        # The input's format, layout or rate changed mid-track: start a new resampler.
        self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=SAMPLE_RATE)
        try:
            return self.resampler.resample(frame)
        except (av.FFmpegError, ValueError):
            return []

    def add_to(self, mix: np.ndarray, start: int) -> None:
        """Add this track's samples for [start, start + mix width) into mix."""
        stop = start + mix.shape[1]
        while not self.done and (
            not self.pending or self.pending[-1][0] + self.pending[-1][1].shape[1] < stop
        ):
            self._pull()
        for position, samples in self.pending:
            lo, hi = max(position, start), min(position + samples.shape[1], stop)
            if lo < hi:
                mix[:, lo - start : hi - start] += samples[:, lo - position : hi - position]
        while self.pending and self.pending[0][0] + self.pending[0][1].shape[1] <= stop:
            self.pending.popleft()


def limit(mix: np.ndarray) -> np.ndarray:
    """Soft knee: identity below LIMIT, above it a tanh curve that never reaches 1.0."""
    magnitude = np.abs(mix)
    loud = magnitude > LIMIT
    if loud.any():
        head = 1.0 - LIMIT
        mix[loud] = np.sign(mix[loud]) * (LIMIT + head * np.tanh((magnitude[loud] - LIMIT) / head))
    return mix


def _write(
    path: Path,
    fmt: str,
    quality: str,
    size: tuple[int, int],
    total_frames: int,
    tracks: list[Track],
    progress: Progress,
    warnings: list[str],
) -> None:
    muxer, video_codec, audio_codec, options = FORMATS[fmt]
    width, height = size
    total_samples = round(total_frames * SAMPLE_RATE / FPS)
    samples_per_frame = SAMPLE_RATE // FPS

    with contextlib.ExitStack() as stack:
        output = stack.enter_context(av.open(str(path), "w", format=muxer, options=options))
        vstream = output.add_stream(
            video_codec, rate=FPS, options=dict(VIDEO_OPTIONS.get(video_codec, {}))
        )
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        vstream.time_base = Fraction(1, FPS)
        vstream.codec_context.gop_size = FPS * KEYFRAME_SECONDS
        if video_codec == "libvpx":
            vstream.bit_rate = VPX_BITRATE[quality]
        astream = output.add_stream(audio_codec, rate=SAMPLE_RATE, layout="stereo")
        astream.bit_rate = AUDIO_BITRATE

        videos = [VideoSource(t, stack) for t in tracks if t.kind == "video"]
        audios = [AudioSource(t, stack) for t in tracks if t.kind == "audio"]
        tiles = _layout(videos, width, height)

        area = width * height
        black = np.full(area * 3 // 2, BLACK_UV, np.uint8)
        black[:area] = BLACK_Y
        written = 0
        reported = -PROGRESS_STEP
        for index in range(total_frames):
            t = index / FPS
            canvas = black.copy()  # Y, U and V planes back to back, as yuv420p ndarrays are
            planes = [
                canvas[:area].reshape(height, width),
                canvas[area : area * 5 // 4].reshape(height // 2, width // 2),
                canvas[area * 5 // 4 :].reshape(height // 2, width // 2),
            ]
            for tile in tiles:
                tile.draw(t, planes)
            picture = av.VideoFrame.from_ndarray(canvas.reshape(-1, width), format="yuv420p")
            picture.pts = index
            output.mux(vstream.encode(picture))

            stop = min(total_samples, round((index + 1) * samples_per_frame))
            if stop > written:
                mix = np.zeros((2, stop - written), np.float32)
                for source in audios:
                    source.add_to(mix, written)
                sound = av.AudioFrame.from_ndarray(limit(mix), format="fltp", layout="stereo")
                sound.sample_rate, sound.pts = SAMPLE_RATE, written
                sound.time_base = Fraction(1, SAMPLE_RATE)
                output.mux(astream.encode(sound))
                written = stop

            percent = min(99.0, 100.0 * (index + 1) / total_frames)
            if percent - reported >= PROGRESS_STEP:
                progress(percent)
                reported = percent
        output.mux(vstream.encode(None))
        output.mux(astream.encode(None))
    if not tracks:
        warnings.append("no usable track: the output is black and silent")
