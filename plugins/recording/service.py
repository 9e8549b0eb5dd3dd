"""Recording: start the meeting's media bot, write its tracks, compose them into one file.

Nothing is ever stuck: a start that gets no media within `recording.media_timeout` fails; a
stop composes what was written (a kernel job, retried after crashes); a node that dies while
recording is noticed by its stale heartbeat on any node, and the recording is composed from
what is on disk or failed with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from quart import current_app, has_app_context

from kernel.api import ApiError, Job, Role, User, get_platform, iso, public_url, publish
from plugins.media import service as media
from plugins.meetings import service as meetings
from plugins.recording.models import Recording, RecordingStatus
from plugins.recording.recorder import MeetingRecorder, usable_tracks
from plugins.webrtc import service as webrtc

log = logging.getLogger("platform.recording")
COMPOSE = "recording.compose"
ACTIVE = (RecordingStatus.RECORDING, RecordingStatus.PROCESSING)


def now() -> datetime:
    return datetime.now(UTC)


def setting(name: str, default: float) -> float:
    return float(get_platform().settings.get(f"recording.{name}", default))


def directory(recording_id: int) -> Path:
    return Path(get_platform().storage.scratch_dir()) / f"recording-{recording_id}"


class Recorders:
    """The recordings this node is writing: recorder, watchdog and heartbeat per recording."""

    def __init__(self) -> None:
        self.active: dict[int, tuple[MeetingRecorder, asyncio.Task]] = {}
        self.sweeper: asyncio.Task | None = None

    async def stop(self) -> None:
        if self.sweeper:
            self.sweeper.cancel()
        for recording_id in list(self.active):
            # Shutdown: compose what we have rather than lose the meeting.
            with contextlib.suppress(Exception):
                await finish_recording(await Recording.get(id=recording_id))


def recorders() -> Recorders:
    return current_app.extensions["recording"]


def running() -> bool:
    """Whether this app's recording plugin has started (events may come before or after)."""
    return has_app_context() and "recording" in current_app.extensions


# -- start and stop ---------------------------------------------------------------------------


async def start(user: User, meeting_id: int, options: dict[str, Any]) -> Recording:
    acc = await meetings.access(meeting_id, user)
    meetings.require_recording_rights(acc)
    meetings.refuse_if_closed(acc.meeting)
    if await Recording.filter(meeting_id=meeting_id, status=RecordingStatus.RECORDING).exists():
        raise ApiError(409, f"meeting {meeting_id} is already being recorded")
    handed = webrtc.bots_on_workers()
    recording = await Recording.create(
        meeting_id=meeting_id,
        user_id=user.id,
        title=options.get("title"),
        quality=options.get("quality") or "720p",
        format=options.get("format") or "mp4",
        node=None if handed else get_platform().node,  # None: waiting for a media worker
        heartbeat_at=now(),
    )
    if handed:
        return await _hand_to_worker(acc, recording)
    try:
        bot = await webrtc.bots().acquire(acc, public_url("/ws/signaling", websocket=True))
    except Exception as exc:
        await _fail(recording, f"the media bot could not join the meeting: {exc}")
        raise ApiError(503, f"recording could not start: {exc}") from None
    await _capture(recording, bot)
    log.info("recording %s of meeting %s started by user %s", recording.id, meeting_id, user.id)
    return recording


async def _capture(recording: Recording, bot: Any) -> None:
    """Write the bot's tracks on this node, with a watchdog and a heartbeat."""
    recorder = MeetingRecorder(directory(recording.id))
    bot.subscribe(recorder.consumer)
    watch = asyncio.create_task(_watch(recording.id, recorder), name=f"rec-{recording.id}")
    recorders().active[recording.id] = (recorder, watch)
    await publish(
        "recording.started",
        recording_id=recording.id,
        meeting_id=recording.meeting_id,
        node=get_platform().node,
    )


async def _hand_to_worker(acc: Any, recording: Recording) -> Recording:
    """Ask the media workers to record; answer once one has started (or 503 with the reason)."""
    await webrtc.hand_to_worker(
        acc,
        f"recording {recording.id}",
        "recording.capture_requested",
        {"recording_id": recording.id, "meeting_id": recording.meeting_id},
        Recording.filter(id=recording.id, node=None, status=RecordingStatus.RECORDING),
        lambda reason: _fail(recording, reason),
        setting("claim_timeout", 10),
    )
    log.info("recording %s of meeting %s handed to a media worker", recording.id, acc.meeting.id)
    return await Recording.get(id=recording.id)


async def _watch(recording_id: int, recorder: MeetingRecorder) -> None:
    """Keep the heartbeat while recording; fail a recording that gets no media in time."""
    timeout = setting("media_timeout", 20)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await Recording.filter(id=recording_id, status=RecordingStatus.RECORDING).update(
            heartbeat_at=now()
        )
        interval = setting("stale_after", 30) / 4
        if recorder.first_media.is_set():
            await asyncio.sleep(interval)
            continue
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            recording = await Recording.get(id=recording_id)
            await _release(recording)
            await _fail(recording, f"no media arrived from any participant within {timeout:g} s")
            return
        with contextlib.suppress(TimeoutError):  # media, the deadline or the next heartbeat
            async with asyncio.timeout(min(interval, remaining)):
                await recorder.first_media.wait()


async def _release(recording: Recording) -> list[dict[str, Any]]:
    """Stop this node's recorder of `recording` (if any); answers the tracks written."""
    entry = recorders().active.pop(recording.id, None)
    if entry is None:
        return usable_tracks(directory(recording.id))
    recorder, watch = entry
    if watch is not asyncio.current_task():
        watch.cancel()
    bot = webrtc.bots().bots.get(recording.meeting_id)
    if bot is not None:
        bot.unsubscribe(recorder.consumer)
    tracks = await recorder.close()
    await webrtc.bots().release(recording.meeting_id)
    return tracks


async def stop(user: User, recording_id: int) -> Recording:
    recording = await readable(user, recording_id)
    acc = await meetings.access(recording.meeting_id, user)
    meetings.require_recording_rights(acc)
    if recording.status != RecordingStatus.RECORDING:
        raise ApiError(409, f"recording {recording_id} is {recording.status.value}, not recording")
    if recording.id not in recorders().active:
        # Another node writes it: ask it, and wait a moment for the answer.
        await publish("recording.stop_requested", recording_id=recording.id)
        for _ in range(100):
            await asyncio.sleep(0.1)
            await recording.refresh_from_db()
            if recording.status != RecordingStatus.RECORDING:
                return recording
        raise ApiError(503, "the node recording this meeting did not answer; try again")
    return await finish_recording(recording)


async def finish_recording(recording: Recording) -> Recording:
    """Stop writing and queue the composition of what was written."""
    tracks = await _release(recording)
    stopped = now()
    duration = (stopped - recording.started_at).total_seconds()
    updated = await Recording.filter(id=recording.id, status=RecordingStatus.RECORDING).update(
        status=RecordingStatus.PROCESSING, stopped_at=stopped, duration=round(duration, 3)
    )
    if not updated:
        return await Recording.get(id=recording.id)
    await publish("recording.stopped", recording_id=recording.id, meeting_id=recording.meeting_id)
    await _compose(await Recording.get(id=recording.id), tracks)
    return await Recording.get(id=recording.id)


async def _compose(recording: Recording, tracks: list[dict[str, Any]]) -> None:
    if not tracks:
        await _fail(recording, "no media was recorded")
        return
    params = {
        "recording_id": recording.id,
        "tracks": tracks,
        "duration": recording.duration or 0,
        "quality": recording.quality,
        "format": recording.format,
    }
    job = await get_platform().jobs.submit(COMPOSE, user_id=recording.user_id, params=params)
    await Recording.filter(id=recording.id).update(job_id=job.id)


async def _fail(recording: Recording, reason: str) -> None:
    updated = await Recording.filter(id=recording.id, status__in=list(ACTIVE)).update(
        status=RecordingStatus.FAILED, error=reason, completed_at=now()
    )
    if updated:
        log.warning("recording %s failed: %s", recording.id, reason)
        await publish(
            "recording.failed",
            recording_id=recording.id,
            meeting_id=recording.meeting_id,
            error=reason,
        )
        await asyncio.to_thread(shutil.rmtree, directory(recording.id), True)


# -- composing (kernel job) ------------------------------------------------------------------


async def composed(job: Job, result: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """In the server after the compose job: the file becomes a media file of the meeting."""
    recording = await Recording.get(id=job.params["recording_id"])
    name = f"{recording.title or 'recording'}-{recording.id}.{recording.format}"
    file = await media.add_file(
        recording.user_id, workdir / f"output.{recording.format}", name, recording.meeting_id
    )
    await Recording.filter(id=recording.id).update(
        status=RecordingStatus.COMPLETED,
        file_id=file.id,
        size=file.size,
        duration=file.duration,
        completed_at=now(),
    )
    await asyncio.to_thread(shutil.rmtree, directory(recording.id), True)
    await publish(
        "recording.completed",
        recording_id=recording.id,
        meeting_id=recording.meeting_id,
        file_id=file.id,
    )
    return {**result, "file_id": file.id}


async def on_event(event: Any) -> None:
    if event.name == "job.failed" and event.data.get("kind") == COMPOSE:
        if event.node == get_platform().node:
            job = await get_platform().jobs.get(event.data["job_id"])
            recording = await Recording.get_or_none(id=job.params["recording_id"])
            if recording is not None:
                await _fail(recording, f"composing failed: {event.data.get('error')}")
    elif event.name == "recording.stop_requested":
        recording_id = int(event.data["recording_id"])
        if recording_id in recorders().active:
            await finish_recording(await Recording.get(id=recording_id))
    elif event.name == "recording.capture_requested" and webrtc.takes_handed_bots():
        recording_id = int(event.data["recording_id"])

        async def claim() -> bool:
            unclaimed = Recording.filter(
                id=recording_id, node=None, status=RecordingStatus.RECORDING
            )
            return bool(await unclaimed.update(node=get_platform().node, heartbeat_at=now()))

        async def start(bot: Any) -> None:
            await _capture(await Recording.get(id=recording_id), bot)

        async def fail(reason: str) -> None:
            await _fail(await Recording.get(id=recording_id), reason)

        webrtc.take_handed(f"recording {recording_id}", event.data, claim, start, fail)
    elif event.name in ("recording.started", "recording.failed"):
        webrtc.answer_handed(f"recording {event.data['recording_id']}", event.data.get("error"))


# -- crash recovery ---------------------------------------------------------------------------


async def sweep() -> None:
    """Recordings whose node stopped: compose what is on disk, or fail with the reason."""
    cutoff = now() - timedelta(seconds=setting("stale_after", 30))
    mine = set(recorders().active)
    stale = Recording.filter(status=RecordingStatus.RECORDING, heartbeat_at__lt=cutoff)
    async for recording in stale.exclude(id__in=list(mine)):
        taken = await Recording.filter(
            id=recording.id, status=RecordingStatus.RECORDING, heartbeat_at__lt=cutoff
        ).update(
            status=RecordingStatus.PROCESSING,
            stopped_at=recording.heartbeat_at,
            duration=round((recording.heartbeat_at - recording.started_at).total_seconds(), 3),
        )
        if not taken:
            continue
        tracks = usable_tracks(directory(recording.id))
        log.warning(
            "recording %s: node %s stopped while recording; composing %s track(s) from disk",
            recording.id,
            recording.node,
            len(tracks),
        )
        if not tracks:
            await _fail(await Recording.get(id=recording.id), "the recorder stopped before any "
                        f"media was written (node {recording.node})")  # fmt: skip
            continue
        await _compose(await Recording.get(id=recording.id), tracks)
    # Stopped but never handed to a job (a crash in between).
    async for recording in Recording.filter(status=RecordingStatus.PROCESSING, job_id=None):
        if recording.stopped_at and recording.stopped_at < cutoff:
            await _compose(recording, usable_tracks(directory(recording.id)))


async def sweep_forever() -> None:
    while True:
        try:
            await sweep()
        except Exception:
            log.exception("recording sweep failed")
        await asyncio.sleep(max(setting("stale_after", 30) / 3, 0.5))


# -- reading ----------------------------------------------------------------------------------


async def readable(user: User, recording_id: int) -> Recording:
    recording = await Recording.get_or_none(id=recording_id)
    if recording is not None and user.role != Role.ADMIN and recording.user_id != user.id:
        try:
            member = (await meetings.access(recording.meeting_id, user)).is_member
        except ApiError:
            member = False
        if not member:
            recording = None
    if recording is None:
        raise ApiError(404, f"recording {recording_id} not found")
    return recording


async def listing(user: User, meeting_id: int | None) -> Any:
    """Recordings of a meeting (its members, admins), else the caller's own (admins: all)."""
    query = Recording.all()
    if meeting_id is not None:
        acc = await meetings.access(meeting_id, user)
        acc.require(acc.is_member, "only participants of the meeting see its recordings")
        query = query.filter(meeting_id=meeting_id)
    elif user.role != Role.ADMIN:
        query = query.filter(user_id=user.id)
    return query.order_by("-started_at", "-id")


async def delete(user: User, recording_id: int) -> None:
    recording = await readable(user, recording_id)
    if recording.user_id != user.id and user.role != Role.ADMIN:
        acc = await meetings.access(recording.meeting_id, user)
        acc.require(acc.is_host, "only the host, the one who recorded, or an admin deletes it")
    if recording.status == RecordingStatus.RECORDING:
        raise ApiError(409, "stop the recording before deleting it")
    await recording.delete()
    if recording.file_id:
        await media.delete_file(recording.file_id)
    await asyncio.to_thread(shutil.rmtree, directory(recording.id), True)


def shape(recording: Recording) -> dict[str, Any]:
    file_id = recording.file_id
    return {
        "recording_id": recording.id,
        "meeting_id": recording.meeting_id,
        "user_id": recording.user_id,
        "title": recording.title,
        "status": recording.status.value,
        "quality": recording.quality,
        "format": recording.format,
        "file_id": file_id,
        "file_url": public_url(f"/api/v1/media/download/{file_id}") if file_id else None,
        "download_url": public_url(f"/api/v1/recording/{recording.id}/download")
        if file_id
        else None,
        "duration": recording.duration,
        "size": recording.size,
        "error": recording.error,
        "started_at": iso(recording.started_at),
        "stopped_at": iso(recording.stopped_at),
        "completed_at": iso(recording.completed_at),
    }
