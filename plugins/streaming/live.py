"""Live composition of a meeting: the latest frame of every participant in a grid, all voices
mixed, encoded H.264/AAC with PyAV and pushed to an RTMP server or written as HLS.

The event loop only collects frames: a clock task hands one snapshot per output frame to a
thread that composes, encodes and writes. An RTMP target that drops is reopened with backoff
while the meeting goes on; the error and the number of reconnects are kept for the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

log = logging.getLogger("platform.streaming")
RATE = 48000
_END = object()


def grid(count: int) -> tuple[int, int]:
    """Columns and rows for `count` tiles (1: 1x1, 2: 2x1, 3-4: 2x2, 5-6: 3x2, ...)."""
    if count <= 1:
        return 1, 1
    columns = math.ceil(math.sqrt(count))
    return columns, math.ceil(count / columns)


def compose(frames: list[Any], width: int, height: int) -> np.ndarray:
    """An RGB canvas with each frame fitted (aspect kept) into its tile."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    if not frames:
        return canvas
    columns, rows = grid(len(frames))
    tile_w, tile_h = width // columns, height // rows
    for index, frame in enumerate(frames):
        scale = min(tile_w / frame.width, tile_h / frame.height)
        w, h = max(2, int(frame.width * scale) // 2 * 2), max(2, int(frame.height * scale) // 2 * 2)
        image = frame.reformat(width=w, height=h, format="rgb24").to_ndarray()
        x = (index % columns) * tile_w + (tile_w - w) // 2
        y = (index // columns) * tile_h + (tile_h - h) // 2
        canvas[y : y + h, x : x + w] = image
    return canvas


class Output:
    """The encoder and muxer, in their own thread; reopens a failed RTMP target with backoff."""

    def __init__(self, target: str, fmt: str, options: dict[str, str], settings: dict) -> None:
        self.target, self.fmt, self.options = target, fmt, options
        self.width, self.height = settings["width"], settings["height"]
        self.fps, self.bitrate = settings["fps"], settings["bitrate"]
        self.retry = fmt == "flv"
        self.items: queue.Queue = queue.Queue(maxsize=self.fps * 2)
        self.error: str | None = None
        self.reconnects = 0
        self.bytes = 0
        self.connected = False
        self.thread = threading.Thread(target=self._run, name="stream-output", daemon=True)
        self.thread.start()

    def put(self, item: Any) -> None:
        with contextlib.suppress(queue.Full):  # a stalled target drops frames, never the loop
            self.items.put_nowait(item)

    def close(self) -> None:
        with contextlib.suppress(queue.Full):
            self.items.put(_END, timeout=5)

    def _open(self) -> tuple[Any, Any, Any]:
        container = av.open(self.target, "w", format=self.fmt, options=self.options)
        video = container.add_stream(
            "libx264",
            rate=self.fps,
            options={"preset": "veryfast", "tune": "zerolatency", "g": str(self.fps * 2)},
        )
        video.width, video.height, video.pix_fmt = self.width, self.height, "yuv420p"
        video.bit_rate = self.bitrate
        audio = container.add_stream("aac", rate=RATE, layout="stereo")
        audio.bit_rate = 128_000
        return container, video, audio

    def _run(self) -> None:
        backoff, index, container = 1.0, 0, None
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        while True:
            item = self.items.get()
            if item is _END:
                break
            if container is None:
                try:
                    container, video, audio = self._open()
                except Exception as exc:  # the target is down: try again later
                    self.error = f"cannot open {self.fmt} output: {exc}"
                    log.warning("stream output: %s; retrying in %.0f s", self.error, backoff)
                    if not self.retry:
                        break
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 30)
                    self._drain()
                    continue
            frames, samples = item
            try:
                picture = av.VideoFrame.from_ndarray(
                    compose(frames, self.width, self.height), format="rgb24"
                )
                picture.pts, picture.time_base = index, Fraction(1, self.fps)
                sound = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
                sound.sample_rate = RATE
                sound.pts, sound.time_base = index * RATE // self.fps, Fraction(1, RATE)
                index += 1
                packets = list(video.encode(picture))
                for converted in resampler.resample(sound):
                    packets += audio.encode(converted)
                for packet in packets:
                    container.mux(packet)  # RTMP connects at the first write
                    self.bytes += packet.size
                if packets and not self.connected:
                    self.connected, backoff = True, 1.0
            except Exception as exc:  # the target is down or went away mid-stream
                self.error = f"{self.fmt} output failed: {exc}"
                log.warning("stream output: %s; retrying in %.0f s", self.error, backoff)
                self.reconnects += self.connected
                self.connected = False
                with contextlib.suppress(Exception):
                    container.close()
                container = None
                if not self.retry:
                    break
                time.sleep(backoff)
                backoff = min(backoff * 2, 30)
                self._drain()
                index = 0
        if container is not None:
            with contextlib.suppress(Exception):
                for packet in video.encode(None):
                    container.mux(packet)
                for packet in audio.encode(None):
                    container.mux(packet)
            container.close()  # HLS: writes #EXT-X-ENDLIST
        self.connected = False

    def _drain(self) -> None:
        while True:
            try:
                if self.items.get_nowait() is _END:
                    self.items.put(_END)
                    return
            except queue.Empty:
                return


class LiveMix:
    """Collects the bot's tracks and feeds `Output` one snapshot per output frame."""

    def __init__(self, output: Output) -> None:
        self.output = output
        self.video: dict[str, Any] = {}  # participant → latest frame
        self.audio: dict[str, np.ndarray] = {}  # participant → samples not yet mixed
        self.tasks: set[asyncio.Task] = set()
        self.clock = asyncio.create_task(self._tick(), name="stream-clock")

    def consumer(self, peer: Any, track: Any) -> None:
        key = f"{peer.session_id}:{track.kind}"
        task = asyncio.create_task(self._pump(peer, key, track))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _pump(self, peer: Any, key: str, track: Any) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        try:
            while True:
                frame = await track.recv()
                if track.kind in peer.muted:
                    self.video.pop(key, None)
                    continue
                if track.kind == "video":
                    self.video[key] = frame
                    continue
                for out in resampler.resample(frame):
                    pending = self.audio.get(key, np.zeros(0, dtype=np.int16))
                    # Keep at most a second: a late track must not delay the mix for ever.
                    self.audio[key] = np.concatenate([pending, out.to_ndarray()[0]])[-RATE:]
        except (MediaStreamError, asyncio.CancelledError):
            pass
        finally:
            self.video.pop(key, None)
            self.audio.pop(key, None)

    async def _tick(self) -> None:
        fps = self.output.fps
        per_frame = RATE // fps
        started = time.monotonic()
        index = 0
        while True:
            index += 1
            await asyncio.sleep(max(0.0, started + index / fps - time.monotonic()))
            mixed = np.zeros(per_frame, dtype=np.int32)
            for key, pending in list(self.audio.items()):
                take = pending[:per_frame]
                mixed[: len(take)] += take
                self.audio[key] = pending[per_frame:]
            samples = np.clip(mixed, -32768, 32767).astype(np.int16).reshape(1, -1)
            frames = [self.video[key] for key in sorted(self.video)]
            self.output.put((frames, samples))

    async def close(self) -> None:
        self.clock.cancel()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(self.clock, *self.tasks, return_exceptions=True)
        self.output.close()
        await asyncio.to_thread(self.output.thread.join, 30)


def hls_options(directory: Path) -> dict[str, str]:
    return {
        "hls_time": "2",
        "hls_list_size": "0",
        "hls_segment_filename": str(directory / "segment_%05d.ts"),
    }
