"""Live streaming (endpoints 64-66): the meeting's mix pushed to RTMP or served as HLS.

The meeting's media bot (plugin `webrtc`) provides the tracks; `live.py` composes the latest
frame of each participant into a grid, mixes all voices, and encodes H.264/AAC with PyAV.
RTMP targets that drop are reopened with backoff (status `reconnecting`, `last_error`), HLS is
written under the storage's scratch directory and served at /hls/{stream_id}/index.m3u8.
A stream whose node stops is marked failed by the other nodes (or after restart).
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl

requires = ("meetings", "webrtc")


@hookimpl
def register_models(register: Any) -> None:
    register(models="plugins.streaming.models", migrations="plugins.streaming.migrations")


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.streaming.routes import bp, hls

    register(bp)
    register(hls)


@hookimpl
async def startup(app: Any) -> None:
    import asyncio

    from plugins.streaming.service import Streams, sweep_forever

    streams = Streams()
    app.extensions["streaming"] = streams
    streams.sweeper = asyncio.create_task(sweep_forever(), name="streaming-sweeper")


@hookimpl
async def shutdown(app: Any) -> None:
    streams = app.extensions.get("streaming")
    if streams is not None:
        async with app.app_context():
            await streams.stop()


@hookimpl
async def on_event(event: Any) -> None:
    from plugins.streaming import service

    if service.running():
        await service.on_event(event)
