"""Writes each participant track the media bot receives to its own file, as it arrives.

Video goes to Matroska (H.264, ultrafast) and audio to Matroska (PCM); both are streamable, so
a crash or kill leaves files that decode up to the last written frame. `tracks.json` beside
them says which file is whose and when it started, for composing after a restart too.
Encoding runs in one thread per track: the event loop only moves frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError

log = logging.getLogger("platform.recording")
TRACKS_FILE = "tracks.json"
_END = object()


class TrackWriter:
    """One track into one file, encoded in its own thread."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.frames: queue.Queue = queue.Queue(maxsize=300)
        self.thread = threading.Thread(target=self._run, name=f"rec-{path.name}", daemon=True)
        self.thread.start()

    def put(self, frame: Any) -> None:
        with contextlib.suppress(queue.Full):  # a stalled encoder drops frames, never the loop
            self.frames.put_nowait(frame)

    def close(self) -> None:
        """Ask the writer to finish; never blocks (the caller is the event loop)."""
        while True:
            try:
                self.frames.put_nowait(_END)
                return
            except queue.Full:  # a stalled or dead writer: drop the oldest frame for the marker
                with contextlib.suppress(queue.Empty):
                    self.frames.get_nowait()

    def _run(self) -> None:
        # Matroska keeps a cluster in memory until it closes: close one every second so a
        # kill loses at most that much.
        container = av.open(
            str(self.path),
            "w",
            format="matroska",
            options={"cluster_time_limit": "1000", "cluster_size_limit": "262144"},
            container_options={"flush_packets": "1"},
        )
        stream: Any = None
        first_time: float | None = None
        failures = 0
        try:
            while (item := self.frames.get()) is not _END:
                frame, at = item
                first_time = at if first_time is None else first_time
                try:
                    if stream is None:
                        stream = self._add_stream(container, frame)
                    for ready in self._prepare(stream, frame, at - first_time):
                        container.mux(stream.encode(ready))
                except Exception:  # one bad frame costs that frame, not the track
                    failures += 1
                    if failures in (1, 100, 10000):
                        log.exception("recording %s: frame dropped (%s)", self.path, failures)
            if stream is not None:
                container.mux(stream.encode(None))
        except Exception:
            log.exception("recording %s: finishing the file failed", self.path)
        finally:
            container.close()

    def _add_stream(self, container: Any, frame: Any) -> Any:
        if self.kind == "video":
            stream = container.add_stream("libx264", rate=30, options={"preset": "ultrafast"})
            stream.width, stream.height = (
                frame.width - frame.width % 2,
                frame.height - frame.height % 2,
            )
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = Fraction(1, 1000)
            self._last_pts = -1
        else:
            stream = container.add_stream("pcm_s16le", rate=48000, layout="stereo")
            self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=48000)
            self._samples = None
        return stream

    def _prepare(self, stream: Any, frame: Any, seconds: float) -> list[Any]:
        if self.kind == "video":
            out = frame.reformat(width=stream.width, height=stream.height, format="yuv420p")
            pts = max(int(seconds * 1000), self._last_pts + 1)  # wall clock: gaps stay gaps
            self._last_pts = pts
            out.pts, out.time_base = pts, Fraction(1, 1000)
            return [out]
        frames = []
        for out in self._resampler.resample(frame):
            expected = int(seconds * 48000)
            if self._samples is None or expected - self._samples > 2400:
                # The first samples, and any after a gap (mute, lost packets) of over 50 ms,
                # go where the wall clock says, so the gap stays silent in the composition.
                # Never backwards: frames that arrive in a burst after a stall run ahead of
                # the clock, and a muxer refuses timestamps that go back.
                self._samples = expected
            out.pts, out.time_base = self._samples, Fraction(1, 48000)
            self._samples += out.samples
            frames.append(out)
        return frames


class MeetingRecorder:
    """Subscribes to the bot's tracks and writes them under `directory` until `close()`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started = time.time()
        self.tracks: list[dict[str, Any]] = []
        self.writers: list[TrackWriter] = []
        self.tasks: set[asyncio.Task] = set()
        self.first_media = asyncio.Event()
        self.closed = False
        directory.mkdir(parents=True, exist_ok=True)
        self._save_tracks()

    def consumer(self, peer: Any, track: Any) -> None:
        if self.closed:
            return
        name = f"{len(self.tracks):02d}-{track.kind}.{'mkv' if track.kind == 'video' else 'mka'}"
        entry = {
            "path": str(self.directory / name),
            "kind": track.kind,
            "offset": round(time.time() - self.started, 3),
            "participant": str(peer.user_id or peer.session_id),
        }
        writer = TrackWriter(self.directory / name, track.kind)
        self.tracks.append(entry)
        self.writers.append(writer)
        self._save_tracks()
        task = asyncio.create_task(self._pump(peer, track, writer, entry))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _pump(self, peer: Any, track: Any, writer: TrackWriter, entry: dict) -> None:
        first = True
        try:
            while True:
                frame = await track.recv()
                if track.kind in peer.muted:
                    continue
                now = time.time()
                if first:  # the track's real start: when its first frame arrived
                    first = False
                    entry["offset"] = round(now - self.started, 3)
                    self._save_tracks()
                    self.first_media.set()
                writer.put((frame, now))
        except (MediaStreamError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _save_tracks(self) -> None:
        data = {"started": self.started, "tracks": self.tracks}
        temp = self.directory / f"{TRACKS_FILE}.tmp"
        temp.write_text(json.dumps(data))
        temp.replace(self.directory / TRACKS_FILE)

    async def close(self) -> list[dict[str, Any]]:
        """Stop taking frames, finish every file; answers the tracks that hold media."""
        self.closed = True
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for writer in self.writers:
            writer.close()
        for writer in self.writers:
            await asyncio.to_thread(writer.thread.join, 30)
        return usable_tracks(self.directory)


def usable_tracks(directory: Path) -> list[dict[str, Any]]:
    """The tracks listed in `tracks.json` whose files exist and are not empty."""
    try:
        data = json.loads((directory / TRACKS_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [
        t
        for t in data["tracks"]
        if Path(t["path"]).is_file() and Path(t["path"]).stat().st_size > 0
    ]
