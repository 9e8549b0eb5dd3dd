"""Media files (endpoints 44-49): upload, probe, download with ranges, list, delete, process.

- Upload (multipart `file`, optional `meeting_id`): streamed into the kernel storage chunk by
  chunk (memory stays flat), up to `media.max_upload_size` (413 above). The content decides the
  type, never the name: video, audio, image (PyAV probes duration, size, codecs, bitrate) or a
  document (PDF, office formats, plain text); anything else is 415, damaged media 422 (3001).
  A failed or aborted upload leaves neither a file nor a row. Only participants of the meeting
  may attach a file to it.
- Who reads a file (info, download): its owner, members of its meeting, admins; to anyone else
  it does not exist (404, 3002). Deleting: the owner or an admin. A deleted account's files go.
- `POST /process` runs an operation that another plugin registered through the hook
  `register_media_operations` (the ffmpeg plugin: transcode, extract_audio, extract_video,
  thumbnail); without it the endpoint answers 503.

Other plugins use `service.readable_file`, `service.local_copy` and `service.add_file`.
"""

from __future__ import annotations

from typing import Any

from kernel.api import get_platform, hookimpl
from plugins.media import hookspecs  # noqa: F401  (the kernel adds these hook specs)

requires = ("meetings",)


@hookimpl
def register_models(register: Any) -> None:
    register(models="plugins.media.models", migrations="plugins.media.migrations")


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.media.routes import bp

    register(bp)


@hookimpl
async def on_event(event: Any) -> None:
    if event.name == "user.deleted" and event.node == get_platform().node:
        from plugins.media import service

        await service.user_deleted(int(event.data["user_id"]))
