"""WebRTC (endpoints 50-52): the server's receive-only media bot (aiortc) in meetings.

Participants talk peer to peer; when the server needs the media (recording, streaming, live
AI), `service.bots().acquire(acc, signaling_url)` brings the meeting's bot in. It joins over
/ws/signaling like any client, offers each session receive-only audio and video, and fans each
track out (aiortc MediaRelay) to every consumer that `bot.subscribe(consumer)`s. One bot per
meeting and node serves all consumers; it leaves when the last one releases it.

With `webrtc.bots_on = "workers"` the servers run no bots: recording and streaming hand theirs
to `platform worker` nodes (`service.bots_on_workers()`, `service.takes_handed_bots()`).
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl

requires = ("meetings", "signaling")


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.webrtc.routes import bp

    register(bp)


@hookimpl
def startup(app: Any) -> None:
    from plugins.webrtc.service import Bots, bots_on_workers

    bots_on_workers()  # a misspelt setting stops the start, naming it
    app.extensions["webrtc"] = Bots()


@hookimpl
async def shutdown(app: Any) -> None:
    bots = app.extensions.pop("webrtc", None)
    if bots is not None:
        await bots.stop()
