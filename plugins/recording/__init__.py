"""Recording (endpoints 59-63, the meeting-scoped 30-32, and GET /{id}/download).

Start brings the meeting's media bot (plugin `webrtc`) in; each participant's audio and video
is written to its own streamable file as it arrives (`recorder.py`). Stop composes them (all
audio mixed, videos in a grid, H.264/AAC MP4 or the requested format) in a kernel job
(`compose.py`), and the result becomes a media file of the meeting. States: recording →
processing → completed | failed, with events `recording.started/stopped/completed/failed`.
Crash safety: a recording whose node stops heartbeating is composed from what is on disk by
any node (or failed with the reason); compose jobs are retried like every kernel job.
With `webrtc.bots_on = "workers"` the server hands the capture to a `platform worker` node
(event `recording.capture_requested`; the first worker to claim the row records it).
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl

requires = ("meetings", "media", "webrtc")


@hookimpl
def register_models(register: Any) -> None:
    register(models="plugins.recording.models", migrations="plugins.recording.migrations")


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.recording.routes import bp

    register(bp)


@hookimpl
def register_job_types(register: Any) -> None:
    from plugins.recording.service import COMPOSE, composed

    register(COMPOSE, "plugins.recording.compose:compose", finish=composed, timeout=3600)


@hookimpl
async def startup(app: Any) -> None:
    import asyncio

    from plugins.recording.service import Recorders, sweep_forever

    recorders = Recorders()
    app.extensions["recording"] = recorders
    recorders.sweeper = asyncio.create_task(sweep_forever(), name="recording-sweeper")


@hookimpl
async def shutdown(app: Any) -> None:
    recorders = app.extensions.get("recording")
    if recorders is not None:
        async with app.app_context():
            await recorders.stop()


@hookimpl
async def on_event(event: Any) -> None:
    from plugins.recording import service

    if service.running():
        await service.on_event(event)


# -- the meetings plugin's recording hooks (endpoints 30-32) -----------------------------------


@hookimpl
async def meeting_recording_start(meeting_id: int, user_id: int, options: dict) -> Any:
    from kernel.api import User
    from plugins.recording import service

    user = await User.get(id=user_id)
    return service.shape(await service.start(user, meeting_id, options))


@hookimpl
async def meeting_recording_stop(meeting_id: int, user_id: int) -> Any:
    from kernel.api import ApiError, User
    from plugins.recording import service
    from plugins.recording.models import Recording, RecordingStatus

    active = await Recording.filter(meeting_id=meeting_id, status=RecordingStatus.RECORDING).first()
    if active is None:
        raise ApiError(409, f"meeting {meeting_id} is not being recorded")
    user = await User.get(id=user_id)
    return service.shape(await service.stop(user, active.id))


@hookimpl
async def meeting_recordings(meeting_id: int) -> Any:
    from plugins.recording import service
    from plugins.recording.models import Recording

    rows = await Recording.filter(meeting_id=meeting_id).order_by("-started_at", "-id")
    return [service.shape(r) for r in rows]
