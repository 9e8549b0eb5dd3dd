"""The job function the kernel runs in a child process: parameters in, one output file out.

It takes (params, workdir, progress) as kernel jobs do and writes `workdir/output.<ext>`;
`params` were validated by the service before the job was queued.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from plugins.ffmpeg import operations as ops

OPERATIONS = {
    "transcode": ops.transcode,
    "extract_audio": ops.extract_audio,
    "extract_video": ops.extract_video,
    "merge": ops.merge,
    "thumbnail": ops.thumbnail,
}


def run(params: dict[str, Any], workdir: Path, progress: ops.Progress) -> dict[str, Any]:
    operation = params["operation"]
    inputs = params["inputs"] if operation == "merge" else params["inputs"][0]
    output = workdir / f"output.{params['extension']}"
    OPERATIONS[operation](inputs, output, progress=progress, **params["options"])
    return {}
