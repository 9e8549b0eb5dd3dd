"""FFmpeg processing (endpoints 53-58) with PyAV: no ffmpeg binary, FFmpeg's libraries in-process.

Jobs: transcode, extract-audio, extract-video, merge (concat, overlay, side_by_side),
thumbnail. Each request is checked up front (formats, codecs, even sizes, timestamps, inputs
that can be merged) and becomes a kernel job: it runs in a worker process (`jobs.workers` per
node; with Redis any node takes it), reports progress from the decoded position, has a time
limit (`jobs.timeout`), is retried or failed after a crash, and publishes job.completed or
job.failed. The output is a new media file owned by the requester (`output_file_id`).
The same operations (except merge) are offered through POST /api/v1/media/process.
"""

from __future__ import annotations

from typing import Any

from kernel.api import hookimpl

requires = ("media",)


@hookimpl
def register_blueprints(register: Any) -> None:
    from plugins.ffmpeg.routes import bp

    register(bp)


@hookimpl
def register_job_types(register: Any) -> None:
    from plugins.ffmpeg.service import JOB_TYPES, KIND_PREFIX, finish

    for name in JOB_TYPES:
        register(KIND_PREFIX + name, "plugins.ffmpeg.jobs:run", finish=finish)


@hookimpl
def register_media_operations(register: Any) -> None:
    from plugins.ffmpeg.service import PROCESS, process_operation

    for name in PROCESS:
        register(name, process_operation(name))
