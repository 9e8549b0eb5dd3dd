"""Runs in a worker process: FFmpeg filter graphs over decoded audio or video."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import av

AUDIO_FILTER = ("afftdn", "nr=20:nf=-25")
VIDEO_FILTERS = {
    "denoise": ("atadenoise", ""),
    "sharpen": ("unsharp", "5:5:1.0:5:5:0.0"),
    "upscale": ("scale", "iw*2:ih*2:flags=lanczos"),
}
SCALE = {"upscale": 2}  # output size over input size


def _drain(graph: Any) -> list[Any]:
    frames = []
    while True:
        try:
            frames.append(graph.pull())
        except (av.BlockingIOError, av.EOFError):
            return frames


def denoise_audio(params: dict[str, Any], workdir: Path, progress: Any) -> dict[str, Any]:
    with av.open(params["path"]) as source:
        if not source.streams.audio:
            raise ValueError("the input has no audio stream")
        stream = source.streams.audio[0]
        rate = stream.codec_context.sample_rate or 48000
        duration = float(source.duration or 0) / av.time_base or None
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        graph = av.filter.Graph()
        head = graph.add_abuffer(
            format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate)
        )
        tail = graph.add("abuffersink")
        head.link_to(denoiser := graph.add(*AUDIO_FILTER))
        denoiser.link_to(tail)
        graph.configure()
        with av.open(str(workdir / "output.wav"), "w") as target:
            out = target.add_stream("pcm_s16le", rate=rate, layout="mono")
            for frame in source.decode(stream):
                for mono in resampler.resample(frame):
                    graph.push(mono)
                    for clean in _drain(graph):
                        target.mux(out.encode(clean))
                if duration and frame.time is not None:
                    progress(min(99.0, 100 * frame.time / duration))
            graph.push(None)
            for clean in _drain(graph):
                target.mux(out.encode(clean))
            target.mux(out.encode(None))
    progress(100)
    return {"extension": "wav"}


def enhance_video(params: dict[str, Any], workdir: Path, progress: Any) -> dict[str, Any]:
    name, args = VIDEO_FILTERS[params["type"]]
    with av.open(params["path"]) as source:
        if not source.streams.video:
            raise ValueError("the input has no video stream")
        video_in = source.streams.video[0]
        audio_in = source.streams.audio[0] if source.streams.audio else None
        duration = float(source.duration or 0) / av.time_base or None
        graph = av.filter.Graph()
        head = graph.add_buffer(template=video_in)
        step = graph.add(name, args) if args else graph.add(name)
        tail = graph.add("buffersink")
        head.link_to(step)
        step.link_to(tail)
        graph.configure()
        with av.open(str(workdir / "output.mp4"), "w") as target:
            rate = video_in.average_rate or Fraction(25)
            video_out = target.add_stream("libx264", rate=rate, options={"preset": "veryfast"})
            video_out.codec_context.thread_type = "FRAME"
            # Sized before the first packet (audio may come first and open the muxer).
            factor = SCALE.get(params["type"], 1)
            video_out.width = video_in.codec_context.width * factor
            video_out.height = video_in.codec_context.height * factor
            video_out.pix_fmt = "yuv420p"
            audio_out = resampler = None
            if audio_in is not None:
                audio_out = target.add_stream("aac", rate=48000, layout="stereo")
                resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000)
            streams = [video_in] + ([audio_in] if audio_in is not None else [])
            for packet in source.demux(*streams):
                for frame in packet.decode():
                    if packet.stream is audio_in:
                        for ready in resampler.resample(frame):
                            ready.pts = None
                            target.mux(audio_out.encode(ready))
                        continue
                    graph.push(frame)
                    for done in _drain(graph):
                        target.mux(video_out.encode(done.reformat(format="yuv420p")))
                    if duration and frame.time is not None:
                        progress(min(99.0, 100 * frame.time / duration))
            graph.push(None)
            for done in _drain(graph):
                target.mux(video_out.encode(done.reformat(format="yuv420p")))
            target.mux(video_out.encode(None))
            if audio_out is not None:
                target.mux(audio_out.encode(None))
    progress(100)
    return {"extension": "mp4"}
