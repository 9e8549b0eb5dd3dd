"""One participant's live audio track to captions: resample, detect speech, recognise.

The event loop only moves frames: it resamples each 20 ms frame to 16 kHz mono with PyAV and
queues it. A thread per track runs voice activity detection and the streaming recognizer
(both CPU-bound and blocking); silence never reaches the recognizer. Results go back to the
loop through an asyncio queue, in order, to `emit(caption)`.

PocketSphinx keeps the GIL while decoding, so all tracks of a process share one core (about six
streams of conversation; tests/bench/bench_captions.py); a recognizer that needs more would run
in a process of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError

from plugins.captions.vad import RATE, WINDOW, Event, Segmenter, silero

log = logging.getLogger("platform.captions")
_END = object()
QUEUE_FRAMES = 500  # 10 s of 20 ms frames: a thread that falls further behind drops audio


@dataclass
class Stats:
    """What a track cost: audio heard, speech recognised, seconds spent recognising."""

    audio_seconds: float = 0.0
    speech_seconds: float = 0.0
    asr_seconds: float = 0.0
    vad_seconds: float = 0.0
    dropped_frames: int = 0
    finals: list[float] = field(default_factory=list)  # wall time of each final


class TrackCaptioner:
    """Captions of one track. `emit(caption)` gets dicts with text, final, start, end (seconds
    from `offset`, the track's start relative to the meeting's)."""

    def __init__(
        self,
        open_stream: Callable[[str], Any],
        language: str,
        emit: Callable[[dict[str, Any]], Awaitable[None]],
        *,
        offset: float = 0.0,
        vad: Callable[[], Callable[[bytes], float]] = silero,
        segmenter_options: dict[str, Any] | None = None,
    ) -> None:
        self.open_stream = open_stream
        self.language = language
        self.emit = emit
        self.offset = offset
        self.vad = vad
        self.segmenter_options = segmenter_options or {}
        self.frames: queue.Queue = queue.Queue(maxsize=QUEUE_FRAMES)
        self.stats = Stats()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out: asyncio.Queue = asyncio.Queue()
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        """Open the recognizer (in a thread: loading a model blocks) and start the worker."""
        self._loop = asyncio.get_running_loop()
        stream = await asyncio.to_thread(self.open_stream, self.language)
        probability = await asyncio.to_thread(self.vad)
        self._thread = threading.Thread(
            target=self._work, args=(stream, probability), name="captions-track", daemon=True
        )
        self._thread.start()

    def put(self, pcm: bytes) -> None:
        """16 kHz mono s16 PCM from the loop; never blocks (a stalled worker drops audio)."""
        try:
            self.frames.put_nowait(pcm)
        except queue.Full:
            self.stats.dropped_frames += 1

    def close(self) -> None:
        while True:
            try:
                self.frames.put_nowait(_END)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self.frames.get_nowait()

    async def run(self, track: Any) -> None:
        """Caption `track` until it ends (or the task is cancelled)."""
        await self.start()
        sender = asyncio.create_task(self._send())
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    break
                for out in resampler.resample(frame):
                    self.put(out.to_ndarray().tobytes())
        finally:
            self.close()
            await self.finished()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def finished(self) -> None:
        """Wait for the worker to finish what was queued and for its captions to be sent."""
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        await asyncio.sleep(0)  # let the worker's last call_soon_threadsafe puts run
        await self._out.join()

    async def _send(self) -> None:
        while True:
            caption = await self._out.get()
            try:
                await self.emit(caption)
            except Exception:
                log.exception("a caption could not be delivered")
            finally:
                self._out.task_done()

    # -- the worker thread --------------------------------------------------------------

    def _work(self, stream: Any, probability: Callable[[bytes], float]) -> None:
        stats = self.stats

        def timed_vad(window: bytes) -> float:
            began = time.perf_counter()
            try:
                return probability(window)
            finally:
                stats.vad_seconds += time.perf_counter() - began

        segmenter = Segmenter(timed_vad, **self.segmenter_options)
        convert = _converter(stream.sample_rate)
        try:
            while (pcm := self.frames.get()) is not _END:
                stats.audio_seconds += len(pcm) / 2 / RATE
                for event in segmenter.push(pcm):
                    self._handle(stream, segmenter, event, convert)
            for event in segmenter.flush():
                self._handle(stream, segmenter, event, convert)
        except Exception:
            log.exception("captions of a track stopped")

    def _handle(self, stream: Any, segmenter: Segmenter, event: Event, convert: Any) -> None:
        began = time.perf_counter()
        if event.kind == "speech":
            self.stats.speech_seconds += len(event.pcm) / 2 / RATE
            result = stream.accept(convert(event.pcm))
            start, end = segmenter.start_window * WINDOW / RATE, segmenter.seconds
        else:
            result = stream.finish()
            start, end = event.start, event.end
        self.stats.asr_seconds += time.perf_counter() - began
        if not result or not str(result.get("text", "")).strip():
            return
        final = bool(result.get("final"))
        if final:
            self.stats.finals.append(time.time())
        caption = {
            "text": str(result["text"]).strip(),
            "final": final,
            "start": round(self.offset + start, 3),
            "end": round(self.offset + max(end, start), 3),
        }
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._out.put_nowait, caption)


def _converter(rate: int) -> Callable[[bytes], bytes]:
    """16 kHz PCM to the recognizer's rate (most want 16 kHz: then nothing to do)."""
    if rate == RATE:
        return lambda pcm: pcm
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

    def convert(pcm: bytes) -> bytes:
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = RATE
        return b"".join(out.to_ndarray().tobytes() for out in resampler.resample(frame))

    return convert
