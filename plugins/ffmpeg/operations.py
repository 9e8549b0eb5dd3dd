"""Media operations with PyAV (FFmpeg as a library, no ffmpeg binary): run in a worker process.

Every operation decodes its inputs, re-encodes and muxes into `dst`, and reports progress
(0..100, from the decoded position over the input duration) through `progress`, ending with
100. Invalid parameters raise ValueError; unreadable inputs raise PyAV's FFmpegError (or
OSError). No asyncio and no database here.
"""

from __future__ import annotations

import contextlib
import heapq
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import av
from av.filter import Graph
from av.filter.context import FilterContext

Progress = Callable[[float], None]
StrPath = str | Path

MERGE_TYPES = ("concat", "overlay", "side_by_side")
# Speed over size for interactive use; libvpx otherwise defaults to a slow "good" deadline.
ENCODER_OPTIONS = {
    "libx264": {"preset": "veryfast"},
    "libvpx": {"deadline": "realtime", "cpu-used": "8"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "row-mt": "1"},
}
# Codecs that pick a sane quality on their own; others get BITS_PER_PIXEL without a bitrate.
CONSTANT_QUALITY = {"libx264", "libopenh264", "libsvtav1"}
BITS_PER_PIXEL = 0.1
MAX_SIZE = 8192
MAX_BITRATE = 200_000_000


@cache
def encoder_available(name: str, kind: str) -> bool:
    """Whether the bundled FFmpeg has an encoder `name` for `kind` ("video" or "audio")."""
    try:
        return av.codec.Codec(name, "w").type == kind
    except (av.FFmpegError, ValueError):  # UnknownCodecError is a ValueError
        return False


def _available(kind: str, *names: str) -> tuple[str, ...]:
    return tuple(name for name in names if encoder_available(name, kind))


@dataclass(frozen=True)
class OutputFormat:
    muxer: str
    extension: str
    mime_type: str
    video_codecs: tuple[str, ...]  # allowed encoders, the default first; empty: audio only
    audio_codecs: tuple[str, ...]

    @property
    def video_codec(self) -> str | None:
        return self.video_codecs[0] if self.video_codecs else None

    @property
    def audio_codec(self) -> str:
        return self.audio_codecs[0]


H264 = _available("video", "libx264", "libopenh264", "mpeg4")
WEBM_VIDEO = _available("video", "libvpx", "libvpx-vp9", "libsvtav1")
OPUS = _available("audio", "libopus")
FORMATS: dict[str, OutputFormat] = {
    "mp4": OutputFormat(
        "mp4", "mp4", "video/mp4", (*H264, *WEBM_VIDEO[1:]), _available("audio", "aac", *OPUS)
    ),
    "mov": OutputFormat("mov", "mov", "video/quicktime", H264, _available("audio", "aac")),
    "mkv": OutputFormat(
        "matroska",
        "mkv",
        "video/x-matroska",
        (*H264, *WEBM_VIDEO),
        _available("audio", "aac", *OPUS, "libmp3lame", "flac", "pcm_s16le"),
    ),
    "webm": OutputFormat(
        "webm", "webm", "video/webm", WEBM_VIDEO, _available("audio", "libopus", "libvorbis")
    ),
    "mp3": OutputFormat("mp3", "mp3", "audio/mpeg", (), _available("audio", "libmp3lame")),
    "wav": OutputFormat("wav", "wav", "audio/wav", (), ("pcm_s16le",)),
    "ogg": OutputFormat("ogg", "ogg", "audio/ogg", (), (*OPUS, "flac")),
    "flac": OutputFormat("flac", "flac", "audio/flac", (), ("flac",)),
    "m4a": OutputFormat("ipod", "m4a", "audio/mp4", (), _available("audio", "aac", "alac")),
}
FORMATS = {name: fmt for name, fmt in FORMATS.items() if fmt.audio_codecs}
# Thumbnail formats: Pillow's format name and the mime type.
IMAGE_FORMATS = {"jpeg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png")}


class _Progress:
    """Report sum(positions) / sum(durations) as 0..100, non-decreasing, a few times a second."""

    def __init__(self, callback: Progress, durations: list[float]) -> None:
        self.callback = callback
        self.durations = durations
        self.positions = [0.0] * len(durations)
        self.reported = 0.0
        self.at = 0.0
        callback(0.0)

    def update(self, index: int, position: float) -> None:
        self.positions[index] = max(self.positions[index], min(position, self.durations[index]))
        value = 100 * sum(self.positions) / max(sum(self.durations), 1e-6)
        value = min(value, 99.9)  # 100 only when the output is complete
        if value > self.reported and time.monotonic() - self.at >= 0.2:
            self.reported, self.at = value, time.monotonic()
            self.callback(value)

    def done(self) -> None:
        self.callback(100.0)


class _Input:
    """An opened input: its main video and audio streams, start and duration in seconds."""

    def __init__(self, path: StrPath) -> None:
        self.container = av.open(str(path))
        self.video = next(
            (
                s
                for s in self.container.streams.video
                if not s.disposition & av.stream.Disposition.attached_pic
            ),
            None,
        )
        self.audio = next(iter(self.container.streams.audio), None)
        if self.video is not None:
            self.video.thread_type = "AUTO"
        start, duration = self.container.start_time, self.container.duration
        self.start = start / av.time_base if start is not None else 0.0
        main = self.video or self.audio
        if duration:
            self.duration = duration / av.time_base
        elif main is not None and main.duration and main.time_base:
            self.duration = float(main.duration * main.time_base)
        else:
            self.duration = 0.0  # unknown: progress stays at 0 until the end

    @property
    def fps(self) -> Fraction:
        rate = self.video and (self.video.average_rate or self.video.guessed_rate)
        return Fraction(rate).limit_denominator(1001) if rate else Fraction(25)

    def frames(self, video: bool, audio: bool) -> Iterator[Any]:
        """Decoded frames of the wanted streams, in file order (a stream not present: none)."""
        streams = [s for s, wanted in ((self.video, video), (self.audio, audio)) if s and wanted]
        if streams:
            yield from self.container.decode(*streams)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> _Input:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _format(name: str) -> OutputFormat:
    if name not in FORMATS:
        raise ValueError(f"unsupported output format {name!r}; use one of {', '.join(FORMATS)}")
    return FORMATS[name]


def _codec(fmt: OutputFormat, kind: str, name: str | None) -> str:
    allowed = fmt.video_codecs if kind == "video" else fmt.audio_codecs
    if not allowed:
        raise ValueError(f"the {fmt.extension} format holds no {kind}")
    if name is None:
        return allowed[0]
    if name not in allowed:
        raise ValueError(
            f"{kind} codec {name!r} is not available for {fmt.extension}; "
            f"use one of {', '.join(allowed)}"
        )
    return name


def _check(name: str, value: int | None, highest: int) -> None:
    if value is not None and (not isinstance(value, int) or not 1 <= value <= highest):
        raise ValueError(f"{name} must be a whole number from 1 to {highest}, not {value!r}")


@contextlib.contextmanager
def _output(dst: StrPath, fmt: OutputFormat) -> Iterator[Any]:
    """The output container; a failed operation leaves no partial file behind."""
    try:
        with av.open(str(dst), "w", format=fmt.muxer) as output:
            yield output
    except BaseException:
        Path(dst).unlink(missing_ok=True)
        raise


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def _size(
    source: tuple[int, int], width: int | None, height: int | None, even: bool = True
) -> tuple[int, int]:
    """Output size: the source's, or width/height (one alone keeps the aspect ratio)."""
    _check("width", width, MAX_SIZE)
    _check("height", height, MAX_SIZE)
    src_w, src_h = source
    w = width or (src_w if height is None else round(src_w * height / src_h))
    h = height or (src_h if width is None else round(src_h * width / src_w))
    return (_even(w), _even(h)) if even else (max(1, w), max(1, h))


class _VideoOut:
    """A video encoder stream fed with frames at given times (seconds), at a constant rate."""

    def __init__(
        self,
        output: Any,
        codec: str,
        size: tuple[int, int],
        fps: Fraction,
        bitrate: int | None,
    ) -> None:
        self.output, self.fps = output, fps
        self.stream = output.add_stream(codec, rate=fps, options=ENCODER_OPTIONS.get(codec, {}))
        self.stream.width, self.stream.height = self.width, self.height = size
        formats = [f.name for f in self.stream.codec.video_formats or []]
        self.pix_fmt = "yuv420p" if "yuv420p" in formats or not formats else formats[0]
        self.stream.pix_fmt = self.pix_fmt
        if bitrate is None and codec not in CONSTANT_QUALITY:
            bitrate = int(size[0] * size[1] * fps * BITS_PER_PIXEL)
        if bitrate:
            self.stream.bit_rate = bitrate
        # PyAV opens encoders with slice threads; frame threads encode ahead in the background
        # while this thread decodes and scales (as the ffmpeg command does: ~1.5x faster).
        self.stream.codec_context.thread_type = "FRAME"
        # One scaler for the whole stream: a new one per frame costs ~1.5 ms a frame.
        self.scaler = av.video.reformatter.VideoReformatter()
        self.last_pts = -1

    def write(self, frame: Any, seconds: float) -> None:
        pts = round(max(seconds, 0.0) * self.fps)
        if pts <= self.last_pts:  # faster input than output rate: drop the extra frame
            return
        self.last_pts = pts
        out = self.scaler.reformat(frame, width=self.width, height=self.height, format=self.pix_fmt)
        out.pts, out.time_base = pts, 1 / self.fps
        out.pict_type = av.video.frame.PictureType.NONE  # the encoder picks keyframes
        self.output.mux(self.stream.encode(out))

    def close(self) -> None:
        self.output.mux(self.stream.encode(None))


class _AudioOut:
    """An audio encoder stream fed with any decoded audio; timestamps count samples."""

    def __init__(self, output: Any, codec: str, source: Any) -> None:
        rates = av.codec.Codec(codec, "w").audio_rates
        rate = source.sample_rate
        if rates and rate not in rates:
            rate = 48000 if 48000 in rates else max(rates)
        layout = "mono" if source.channels == 1 else "stereo"
        self.output = output
        self.stream = output.add_stream(codec, rate=rate, layout=layout)
        context = self.stream.codec_context
        self.rate, self.layout, self.format = rate, layout, context.format.name
        self.frame_size = context.frame_size or 1024
        self.fifo = av.AudioFifo()
        self.resampler = self._resampler()
        self.samples = 0  # encoded so far

    def _resampler(self) -> av.AudioResampler:
        return av.AudioResampler(format=self.format, layout=self.layout, rate=self.rate)

    def write(self, frame: Any) -> None:
        for out in self.resampler.resample(frame):
            self._queue(out)

    def _queue(self, frame: Any) -> None:
        frame.pts, frame.time_base = None, Fraction(1, self.rate)  # as the FIFO's first frame
        self.fifo.write(frame)
        while self.fifo.samples >= self.frame_size:
            self._encode(self.fifo.read(self.frame_size))

    def _encode(self, frame: Any) -> None:
        frame.pts, frame.time_base = self.samples, Fraction(1, self.rate)
        self.samples += frame.samples
        self.output.mux(self.stream.encode(frame))

    def end_input(self, until: float | None = None) -> None:
        """Flush the current input's audio and pad with silence up to `until` seconds."""
        for out in self.resampler.resample(None):
            self._queue(out)
        self.resampler = self._resampler()
        missing = round((until or 0) * self.rate) - self.samples - self.fifo.samples
        while missing > 0:
            count = min(missing, self.frame_size)
            silence = av.AudioFrame(format=self.format, layout=self.layout, samples=count)
            for plane in silence.planes:
                plane.update(bytes(plane.buffer_size))
            silence.sample_rate = self.rate
            self._queue(silence)
            missing -= count

    def close(self) -> None:
        self.end_input()
        if self.fifo.samples:
            self._encode(self.fifo.read())
        self.output.mux(self.stream.encode(None))


def _sequence(
    srcs: list[StrPath],
    dst: StrPath,
    fmt: OutputFormat,
    progress: Progress,
    *,
    video: bool = True,
    audio: bool = True,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    width: int | None = None,
    height: int | None = None,
    bitrate: int | None = None,
) -> None:
    """Re-encode the inputs one after the other into dst (a single input: a transcode)."""
    _check("bitrate", bitrate, MAX_BITRATE)
    with contextlib.ExitStack() as stack:
        inputs = [stack.enter_context(_Input(src)) for src in srcs]
        vstreams = _videos(inputs) if video and fmt.video_codecs else []
        astreams = [i.audio for i in inputs if i.audio is not None] if audio else []
        if not vstreams and not astreams:
            raise ValueError("the input has no stream to write to this format")
        vcodec = _codec(fmt, "video", video_codec) if vstreams else ""
        acodec = _codec(fmt, "audio", audio_codec) if astreams else ""
        first = vstreams[0].codec_context if vstreams else None
        size = _size((first.width, first.height), width, height) if first else (0, 0)
        tracker = _Progress(progress, [i.duration for i in inputs])
        with _output(dst, fmt) as output:
            vout = aout = None
            if vstreams:  # the first video sets the size and frame rate
                fps = next(i.fps for i in inputs if i.video is not None)
                vout = _VideoOut(output, vcodec, size, fps, bitrate)
            if astreams:
                aout = _AudioOut(output, acodec, astreams[0].codec_context)
            offset = 0.0
            for index, item in enumerate(inputs):
                for frame in item.frames(vout is not None, aout is not None):
                    if frame.pts is None:
                        continue
                    seconds = frame.time - item.start
                    if vout is not None and isinstance(frame, av.VideoFrame):
                        vout.write(frame, offset + seconds)
                    elif aout is not None and isinstance(frame, av.AudioFrame):
                        aout.write(frame)
                    tracker.update(index, seconds)
                offset += item.duration
                if aout is not None:
                    aout.end_input(offset if index < len(inputs) - 1 else None)
            for out in (vout, aout):
                if out is not None:
                    out.close()
    tracker.done()


def transcode(
    src: StrPath,
    dst: StrPath,
    *,
    format: str,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    width: int | None = None,
    height: int | None = None,
    bitrate: int | None = None,
    progress: Progress,
) -> None:
    """Re-encode src into `format`; width/height None keep the input's size (made even)."""
    fmt = _format(format)
    if video_codec is not None:
        _codec(fmt, "video", video_codec)
    _codec(fmt, "audio", audio_codec)
    _sequence(
        [src],
        dst,
        fmt,
        progress,
        video_codec=video_codec,
        audio_codec=audio_codec,
        width=width,
        height=height,
        bitrate=bitrate,
    )


def _require(src: StrPath, kind: str) -> None:
    with _Input(src) as item:
        if getattr(item, kind) is None:
            raise ValueError(f"the input has no {kind} stream")


def extract_audio(src: StrPath, dst: StrPath, *, format: str, progress: Progress) -> None:
    """Write only src's sound (a video format then holds an audio stream only)."""
    fmt = _format(format)
    _require(src, "audio")
    _sequence([src], dst, fmt, progress, video=False)


def extract_video(src: StrPath, dst: StrPath, *, format: str, progress: Progress) -> None:
    """Write only src's picture, without an audio stream."""
    fmt = _format(format)
    _codec(fmt, "video", None)
    _require(src, "video")
    _sequence([src], dst, fmt, progress, audio=False)


def merge(
    srcs: list[StrPath], dst: StrPath, *, format: str, merge_type: str, progress: Progress
) -> None:
    """Combine two or more inputs into one output.

    concat: one after the other at the first video's size (others are stretched to it) and
    frame rate; a gap in one input's sound becomes silence. The duration is the sum.
    overlay: exactly two videos, the second at a quarter of the first's width in its
    bottom-right corner; the sound of both is mixed. The duration is the first input's.
    side_by_side: the videos scaled to the first one's height, left to right; the sound of all
    is mixed. The duration is the longest input's; an ended video shows its last frame.
    """
    fmt = _format(format)
    if merge_type not in MERGE_TYPES:
        raise ValueError(f"unknown merge type {merge_type!r}; use one of {', '.join(MERGE_TYPES)}")
    if len(srcs) < 2:
        raise ValueError("a merge needs at least two inputs")
    if merge_type == "concat":
        _sequence(list(srcs), dst, fmt, progress)
        return
    if merge_type == "overlay" and len(srcs) != 2:
        raise ValueError("an overlay takes exactly two inputs")
    codec = _codec(fmt, "video", None)
    with contextlib.ExitStack() as stack:
        inputs = [stack.enter_context(_Input(src)) for src in srcs]
        if any(item.video is None for item in inputs):
            raise ValueError(f"every input of {merge_type} needs a video stream")
        _compose(inputs, dst, fmt, codec, merge_type, progress)


def _video_graph(
    inputs: list[_Input], merge_type: str
) -> tuple[Graph, list[Any], Any, tuple[int, int]]:
    """An overlay or side-by-side graph: its buffer sources, its sink and the output size.

    Keep the graph referenced while using its filters: they don't keep it alive.
    """
    graph = Graph()
    sources = [graph.add_buffer(template=item.video) for item in inputs]
    sizes = [(s.codec_context.width, s.codec_context.height) for s in _videos(inputs)]
    if merge_type == "overlay":
        size = _size(sizes[0], None, None)
        small = _size(sizes[1], _even(size[0] / 4), None)
        scaled = [graph.add("scale", f"{w}:{h}") for w, h in (size, small)]
        combine = graph.add("overlay", "x=W-w:y=H-h:eof_action=pass")
    else:
        height = _even(sizes[0][1])
        widths = [_size(source, None, height)[0] for source in sizes]
        scaled = [graph.add("scale", f"{width}:{height}") for width in widths]
        combine = graph.add("hstack", f"inputs={len(inputs)}:shortest=0")
        size = (sum(widths), height)
    for index, (source, scale) in enumerate(zip(sources, scaled, strict=True)):
        source.link_to(scale)
        scale.link_to(combine, 0, index)
    sink = graph.add("buffersink")
    combine.link_to(sink)
    graph.configure()
    return graph, sources, sink, size


def _videos(inputs: list[_Input]) -> list[Any]:
    return [item.video for item in inputs if item.video is not None]


def _audio_graph(inputs: list[_Input], end: float | None) -> tuple[Graph, dict[int, Any], Any]:
    """A graph that mixes all inputs' sound: its buffer sources (by input index) and sink."""
    graph = Graph()
    sources = {
        index: graph.add_abuffer(template=item.audio)
        for index, item in enumerate(inputs)
        if item.audio is not None
    }
    last: FilterContext = next(iter(sources.values()))
    if len(sources) > 1:
        last = graph.add("amix", f"inputs={len(sources)}:duration=longest:dropout_transition=0")
        for index, source in enumerate(sources.values()):
            source.link_to(last, 0, index)
    if end is not None:
        trim = graph.add("atrim", f"end={end}")
        last.link_to(trim)
        last = trim
    sink = graph.add("abuffersink")
    last.link_to(sink)
    graph.configure()
    return graph, sources, sink


def _compose(
    inputs: list[_Input],
    dst: StrPath,
    fmt: OutputFormat,
    codec: str,
    merge_type: str,
    progress: Progress,
) -> None:
    """Overlay or side by side: decode all inputs in step through filter graphs."""
    vgraph, vsources, vsink, size = _video_graph(inputs, merge_type)
    audio = next((item.audio for item in inputs if item.audio is not None), None)
    agraph, asources, asink = None, {}, None
    if audio is not None:
        end = inputs[0].duration if merge_type == "overlay" else None
        agraph, asources, asink = _audio_graph(inputs, end)
    tracker = _Progress(progress, [item.duration for item in inputs])
    with _output(dst, fmt) as output:
        vout = _VideoOut(output, codec, size, inputs[0].fps, None)
        aout = _AudioOut(output, fmt.audio_codec, audio.codec_context) if audio else None
        outputs: list[tuple[Any, Callable[[Any], None]]] = [
            (vsink, lambda frame: vout.write(frame, frame.time))
        ]
        if aout is not None:
            outputs.append((asink, aout.write))

        def drain() -> None:
            for sink, write in outputs:
                while True:
                    try:
                        frame = sink.pull()
                    except (av.error.BlockingIOError, av.error.EOFError):
                        break  # needs more input, or finished
                    write(frame)

        def timed(index: int, item: _Input) -> Iterator[tuple[float, int, Any]]:
            for frame in item.frames(True, True):
                if frame.pts is not None:
                    frame.pts -= round(item.start / frame.time_base)  # every input starts at 0
                    yield frame.time, index, frame

        closed: set[Any] = set()  # sources past the end of their output (overlay, atrim)
        for seconds, index, frame in heapq.merge(
            *(timed(index, item) for index, item in enumerate(inputs)), key=lambda t: t[0]
        ):
            video = isinstance(frame, av.VideoFrame)
            source = vsources[index] if video else asources[index]
            if source not in closed:
                try:
                    source.push(frame)
                except av.error.EOFError:
                    closed.add(source)
            tracker.update(index, seconds)
            drain()
        for source in [*vsources, *asources.values()]:
            if source not in closed:
                source.push(None)
        drain()
        vout.close()
        if aout is not None:
            aout.close()
    del vgraph, agraph  # the filters above need their graphs alive until here
    tracker.done()


def thumbnail(
    src: StrPath,
    dst: StrPath,
    *,
    timestamp: float,
    width: int | None = None,
    height: int | None = None,
    format: str = "jpeg",
    progress: Progress,
) -> None:
    """Save the first frame at or after `timestamp` seconds as a width x height image.

    One of width/height alone keeps the aspect ratio; neither keeps the video's size.
    """
    if format not in IMAGE_FORMATS:
        raise ValueError(f"unsupported image format {format!r}; use jpeg or png")
    if not isinstance(timestamp, int | float) or timestamp < 0:
        raise ValueError(f"timestamp must be a number of seconds from 0, not {timestamp!r}")
    with _Input(src) as item:
        stream = item.video
        if stream is None:
            raise ValueError("the input has no video stream")
        if item.duration and timestamp > item.duration:
            raise ValueError(f"timestamp {timestamp} s is past the end ({item.duration:.2f} s)")
        size = _size(
            (stream.codec_context.width, stream.codec_context.height), width, height, False
        )
        progress(0.0)
        target = item.start + timestamp
        item.container.seek(int(target / stream.time_base), stream=stream, backward=True)
        picked = None
        for frame in item.container.decode(stream):
            if frame.pts is None:
                continue
            picked = frame  # at the end of the video: its last frame
            if frame.time >= target - 1e-3:
                break
        if picked is None:
            raise ValueError(f"no video frame could be decoded at {timestamp} s")
        image = picked.reformat(width=size[0], height=size[1], format="rgb24").to_image()
    pillow_format = IMAGE_FORMATS[format][0]
    options = {"quality": 90} if pillow_format == "JPEG" else {}
    image.save(dst, format=pillow_format, **options)
    progress(100.0)
