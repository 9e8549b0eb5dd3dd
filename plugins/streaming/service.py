"""Streaming: bring the meeting's media bot in and push its live mix to RTMP or HLS."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from quart import current_app, has_app_context

from kernel.api import ApiError, User, get_platform, iso, public_url, publish
from plugins.meetings import service as meetings
from plugins.streaming.live import LiveMix, Output, hls_options
from plugins.streaming.models import Stream, StreamStatus
from plugins.webrtc import service as webrtc

log = logging.getLogger("platform.streaming")
RUNNING = (StreamStatus.LIVE, StreamStatus.RECONNECTING)
HLS_NAME = re.compile(r"^(index\.m3u8|segment_\d{5}\.ts)$")


def now() -> datetime:
    return datetime.now(UTC)


def settings() -> dict[str, int]:
    get = get_platform().settings.get
    return {
        "width": int(get("streaming.width", 1280)),
        "height": int(get("streaming.height", 720)),
        "fps": int(get("streaming.fps", 25)),
        "bitrate": int(get("streaming.bitrate", 2_500_000)),
    }


def hls_dir(stream_id: str) -> Path:
    return Path(get_platform().storage.scratch_dir()) / f"hls-{stream_id}"


class Streams:
    """The streams this node produces."""

    def __init__(self) -> None:
        self.active: dict[str, tuple[LiveMix, asyncio.Task]] = {}
        self.sweeper: asyncio.Task | None = None

    async def stop(self) -> None:
        if self.sweeper:
            self.sweeper.cancel()
        for stream_id in list(self.active):
            await finish(await Stream.get(id=stream_id), StreamStatus.STOPPED, "server stopped")


def streams() -> Streams:
    return current_app.extensions["streaming"]


def running() -> bool:
    return has_app_context() and "streaming" in current_app.extensions


async def start(user: User, meeting_id: int, protocol: str, url: str | None) -> Stream:
    acc = await meetings.access(meeting_id, user)
    acc.require(acc.is_moderator, "only the host or a moderator can stream the meeting")
    meetings.refuse_if_closed(acc.meeting)
    handed = webrtc.bots_on_workers()
    stream = await Stream.create(
        id=uuid.uuid4().hex,
        meeting_id=meeting_id,
        user_id=user.id,
        protocol=protocol,
        url=url,
        node=None if handed else get_platform().node,  # None: waiting for a media worker
        heartbeat_at=now(),
    )
    if handed:
        return await _hand_to_worker(acc, stream)
    try:
        bot = await webrtc.bots().acquire(acc, public_url("/ws/signaling", websocket=True))
    except Exception as exc:
        await _fail_start(stream, f"the media bot could not join: {exc}")
        raise ApiError(503, f"streaming could not start: {exc}") from None
    await _produce(stream, bot)
    return stream


async def _produce(stream: Stream, bot: Any) -> None:
    """Mix the bot's tracks into the stream's output on this node, with a status watch."""
    if stream.protocol == "hls":
        directory = hls_dir(stream.id)
        directory.mkdir(parents=True, exist_ok=True)
        output = Output(str(directory / "index.m3u8"), "hls", hls_options(directory), settings())
    else:
        output = Output(stream.url, "flv", {"rw_timeout": "5000000"}, settings())
    mix = LiveMix(output)
    bot.subscribe(mix.consumer)
    watch = asyncio.create_task(_watch(stream.id, output), name=f"stream-{stream.id}")
    streams().active[stream.id] = (mix, watch)
    await publish("streaming.started", stream_id=stream.id, meeting_id=stream.meeting_id)
    log.info("stream %s (%s) of meeting %s started on node %s", stream.id, stream.protocol,
             stream.meeting_id, get_platform().node)  # fmt: skip


async def _fail_start(stream: Stream, reason: str) -> None:
    updated = await Stream.filter(id=stream.id, status__in=list(RUNNING)).update(
        status=StreamStatus.FAILED, error=reason, stopped_at=now()
    )
    if updated:
        await publish("streaming.failed", stream_id=stream.id, meeting_id=stream.meeting_id,
                      error=reason)  # fmt: skip


async def _hand_to_worker(acc: Any, stream: Stream) -> Stream:
    """Ask the media workers to produce the stream; answer once one has started it."""
    await webrtc.hand_to_worker(
        acc,
        f"stream {stream.id}",
        "streaming.produce_requested",
        {"stream_id": stream.id, "meeting_id": stream.meeting_id},
        Stream.filter(id=stream.id, node=None, status__in=list(RUNNING)),
        lambda reason: _fail_start(stream, reason),
        float(get_platform().settings.get("streaming.claim_timeout", 10)),
    )
    return await Stream.get(id=stream.id)


async def _watch(stream_id: str, output: Output) -> None:
    """Keep the status row current: live or reconnecting, bytes sent, the last error."""
    while True:
        await asyncio.sleep(1)
        if not output.thread.is_alive():  # a non-retrying output gave up
            await finish(await Stream.get(id=stream_id), StreamStatus.FAILED, output.error)
            return
        status = StreamStatus.LIVE if output.connected else StreamStatus.RECONNECTING
        await Stream.filter(id=stream_id, status__in=list(RUNNING)).update(
            status=status,
            bytes_sent=output.bytes,
            reconnects=output.reconnects,
            error=output.error,
            heartbeat_at=now(),
        )


async def readable(user: User, stream_id: str) -> Stream:
    """The stream if `user` is a member of its meeting (or an admin); otherwise 404."""
    stream = await Stream.get_or_none(id=stream_id)
    if stream is not None and not (await meetings.access(stream.meeting_id, user)).is_member:
        stream = None
    if stream is None:
        raise ApiError(404, f"stream {stream_id} not found")
    return stream


async def stop(user: User, stream_id: str) -> Stream:
    stream = await readable(user, stream_id)
    acc = await meetings.access(stream.meeting_id, user)
    acc.require(acc.is_moderator, "only the host or a moderator can stop the stream")
    if stream.status not in RUNNING:
        raise ApiError(409, f"stream {stream_id} is {stream.status.value}")
    if stream.id not in streams().active:
        await publish("streaming.stop_requested", stream_id=stream.id)
        for _ in range(50):
            await asyncio.sleep(0.1)
            await stream.refresh_from_db()
            if stream.status not in RUNNING:
                return stream
        raise ApiError(503, "the node producing this stream did not answer; try again")
    return await finish(stream, StreamStatus.STOPPED, None)


async def finish(stream: Stream, status: StreamStatus, error: str | None) -> Stream:
    entry = streams().active.pop(stream.id, None)
    if entry is not None:
        mix, watch = entry
        if watch is not asyncio.current_task():
            watch.cancel()
        bot = webrtc.bots().bots.get(stream.meeting_id)
        if bot is not None:
            bot.unsubscribe(mix.consumer)
        await mix.close()  # HLS: the playlist gets its end marker
        await webrtc.bots().release(stream.meeting_id)
        output = mix.output
        await Stream.filter(id=stream.id).update(
            bytes_sent=output.bytes, reconnects=output.reconnects
        )
        error = error or (output.error if status == StreamStatus.FAILED else None)
    await Stream.filter(id=stream.id, status__in=list(RUNNING)).update(
        status=status, stopped_at=now(), error=error
    )
    await publish(f"streaming.{status.value}", stream_id=stream.id, meeting_id=stream.meeting_id)
    return await Stream.get(id=stream.id)


async def on_event(event: Any) -> None:
    if event.name == "streaming.stop_requested" and event.data["stream_id"] in streams().active:
        stream = await Stream.get(id=event.data["stream_id"])
        await finish(stream, StreamStatus.STOPPED, None)
    elif event.name == "streaming.produce_requested" and webrtc.takes_handed_bots():
        stream_id = str(event.data["stream_id"])

        async def claim() -> bool:
            unclaimed = Stream.filter(id=stream_id, node=None, status__in=list(RUNNING))
            return bool(await unclaimed.update(node=get_platform().node, heartbeat_at=now()))

        async def start(bot: Any) -> None:
            await _produce(await Stream.get(id=stream_id), bot)

        async def fail(reason: str) -> None:
            await _fail_start(await Stream.get(id=stream_id), reason)

        webrtc.take_handed(f"stream {stream_id}", event.data, claim, start, fail)
    elif event.name in ("streaming.started", "streaming.failed"):
        failed = "the stream failed" if event.name == "streaming.failed" else None
        webrtc.answer_handed(f"stream {event.data['stream_id']}", event.data.get("error") or failed)


async def sweep_forever() -> None:
    """Streams whose node stopped reporting are over: say so instead of showing them live."""
    stale_after = float(get_platform().settings.get("streaming.stale_after", 30))
    while True:
        try:
            cutoff = now() - timedelta(seconds=stale_after)
            stale = Stream.filter(status__in=list(RUNNING), heartbeat_at__lt=cutoff)
            async for stream in stale.exclude(id__in=list(streams().active)):
                reason = f"the node producing it ({stream.node}) stopped"
                await Stream.filter(id=stream.id, status__in=list(RUNNING)).update(
                    status=StreamStatus.FAILED, error=reason, stopped_at=now()
                )
        except Exception:
            log.exception("streaming sweep failed")
        await asyncio.sleep(max(stale_after / 3, 0.5))


def hls_file(stream_id: str, name: str) -> Path | None:
    if not re.fullmatch(r"[0-9a-f]{32}", stream_id) or not HLS_NAME.match(name):
        return None
    path = hls_dir(stream_id) / name
    return path if path.is_file() else None


def shape(stream: Stream) -> dict[str, Any]:
    end = stream.stopped_at or now()
    seconds = max((end - stream.started_at).total_seconds(), 1e-3)
    playback = None
    if stream.protocol == "hls":
        playback = public_url(f"/hls/{stream.id}/index.m3u8")
    return {
        "stream_id": stream.id,
        "meeting_id": stream.meeting_id,
        "protocol": stream.protocol,
        "status": stream.status.value,
        "playback_url": playback,
        "started_at": iso(stream.started_at),
        "stopped_at": iso(stream.stopped_at),
        "bitrate": int(stream.bytes_sent * 8 / seconds),
        "reconnects": stream.reconnects,
        "last_error": stream.error,
    }
