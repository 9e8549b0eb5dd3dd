"""Enhancement: denoise audio, enhance video, through engine plugins running as kernel jobs.

A stored input (`file_id`) gives a new stored file of the caller; inline input (base64) gives
the result inline (audio) or as a new file (video, which is too large to send back inline).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.api import ApiError, Job, JobStatus, User, get_platform
from plugins.media import service as media

AI_UNAVAILABLE = 4001
AI_FAILED = 4002


@dataclass(frozen=True)
class Engine:
    task: str
    name: str
    kind: str
    kinds: tuple[str, ...]


def engine_for(task: str, kind: str | None = None) -> Engine:
    found: list[Engine] = []

    def register(task_: str, name: str, job_kind: str, kinds: Any = ()) -> None:
        found.append(Engine(task_, name, job_kind, tuple(kinds)))

    get_platform().plugins.hook.register_enhancement_engines(register=register)
    candidates = [e for e in found if e.task == task]
    if not candidates:
        raise ApiError(503, f"no {task} engine is enabled on this server", AI_UNAVAILABLE)
    preferred = get_platform().settings.get(f"enhancement.{task}_engine") or None
    # The configured engine first, the others after it (one may offer a type it lacks).
    candidates.sort(key=lambda engine: engine.name != preferred)
    for engine in candidates:
        if kind is None or kind in engine.kinds:
            return engine
    offered = sorted({k for e in candidates for k in e.kinds})
    raise ApiError(422, f"enhancement_type: {kind!r} is not offered; use one of {offered}")


@contextlib.asynccontextmanager
async def input_file(
    user: User, file_id: int | None, data: str | None, field: str
) -> AsyncIterator[Path]:
    if file_id is not None:
        async with media.local_copy(await media.readable_file(file_id, user)) as path:
            yield path
        return
    limit = int(get_platform().settings.get("enhancement.max_inline_bytes", 10 * 1024 * 1024))
    async with media.inline_file(data, limit, field) as path:
        yield path


async def run(user: User, engine: Engine, path: Path, params: dict[str, Any]) -> Job:
    jobs = get_platform().jobs
    job = await jobs.submit(engine.kind, user_id=user.id, params={**params, "path": str(path)})
    timeout = float(get_platform().settings.get("enhancement.timeout", 600))
    try:
        job = await jobs.wait(job, timeout)
    except TimeoutError:
        raise ApiError(
            503, f"{engine.task} took longer than {timeout:g} s", AI_UNAVAILABLE
        ) from None
    if job.status == JobStatus.FAILED:
        raise ApiError(422, f"{engine.task} failed: {job.error}", AI_FAILED)
    return job


async def finish(job: Job, result: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """In the server after an engine's job: keep the output as a file, or inline (audio)."""
    output = workdir / f"output.{result['extension']}"
    if job.params.get("inline"):
        data = await asyncio.to_thread(output.read_bytes)
        return {"audio_data": base64.b64encode(data).decode(), "file_id": None}
    name = f"{job.params.get('name') or 'enhanced'}.{result['extension']}"
    file = await media.add_file(job.user_id, output, name)
    return {"file_id": file.id}


async def denoise(user: User, file_id: int | None, audio_data: str | None) -> dict[str, Any]:
    engine = engine_for("audio_denoise")
    async with input_file(user, file_id, audio_data, "audio_data") as path:
        params = {"type": "denoise", "inline": audio_data is not None, "name": "denoised"}
        job = await run(user, engine, path, params)
    return {**job.result, "engine": engine.name}


async def enhance_video(
    user: User, file_id: int | None, video_data: str | None, kind: str
) -> dict[str, Any]:
    engine = engine_for("video_enhance", kind)
    async with input_file(user, file_id, video_data, "video_data") as path:
        job = await run(user, engine, path, {"type": kind, "inline": False, "name": kind})
    return {**job.result, "engine": engine.name}
