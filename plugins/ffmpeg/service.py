"""FFmpeg jobs: check everything up front, queue a kernel job, store its output as a new file.

A request that cannot work (unknown codec, odd size, timestamp past the end, merging a video
with a sound file) is refused here with a clear 422 naming the field, not discovered later as
a failed job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from kernel.api import ApiError, Job, Role, User, get_platform, iso
from plugins.ffmpeg import operations as ops
from plugins.ffmpeg import schemas as s
from plugins.media import service as media
from plugins.media.models import FileType, MediaFile

KIND_PREFIX = "ffmpeg."
JOB_TYPES = ("transcode", "extract_audio", "extract_video", "merge", "thumbnail")


def has_video(file: MediaFile) -> bool:
    return file.file_type == FileType.VIDEO


def has_audio(file: MediaFile) -> bool:
    return file.audio_codec is not None


def output_format(name: str, field: str, *, video: bool | None = None) -> ops.OutputFormat:
    """The output format `name`; `video` True/False demands one that holds video or not."""
    fmt = ops.FORMATS.get(name.lower())
    wanted = {
        n: f for n, f in ops.FORMATS.items() if video is None or bool(f.video_codecs) == video
    }
    if fmt is None or name.lower() not in wanted:
        raise ApiError(
            422, f"{field}: {name!r} is not supported here; use one of {', '.join(wanted)}"
        )
    return fmt


def check_codec(fmt: ops.OutputFormat, kind: str, name: str | None, field: str) -> None:
    allowed = fmt.video_codecs if kind == "video" else fmt.audio_codecs
    if name is not None and name not in allowed:
        choices = ", ".join(allowed) or f"none: {fmt.extension} holds no {kind}"
        raise ApiError(422, f"{field}: {name!r} does not go in {fmt.extension}; use {choices}")


def check_even(value: int | None, field: str) -> None:
    if value is not None and value % 2:
        raise ApiError(422, f"{field}: must be even ({value} is odd)")


async def media_input(user: User, file_id: int, field: str = "file_id") -> MediaFile:
    file = await media.readable_file(file_id, user, field)
    if file.file_type not in (FileType.VIDEO, FileType.AUDIO):
        raise ApiError(
            422, f"{field}: file {file_id} is {file.file_type.value}, not video or audio"
        )
    return file


async def _queue(
    user: User, job_type: str, inputs: list[MediaFile], fmt_ext: str, options: dict[str, Any]
) -> Job:
    # The job runs later, maybe on another node: it needs paths that stay valid, which the
    # local storage (or a shared mount) gives; a remote storage plugin would need a copy step.
    paths = []
    for file in inputs:
        async with media.local_copy(file) as path:
            paths.append(str(path))
    stem = Path(inputs[0].file_name).stem or "file"
    params = {
        "operation": job_type,
        "file_id": inputs[0].id,
        "file_ids": [file.id for file in inputs],
        "inputs": paths,
        "extension": fmt_ext,
        "output_name": f"{stem}-{job_type.replace('_', '-')}.{fmt_ext}",
        "options": options,
    }
    return await get_platform().jobs.submit(KIND_PREFIX + job_type, user_id=user.id, params=params)


async def transcode(user: User, data: s.TranscodeIn) -> Job:
    file = await media_input(user, data.file_id)
    fmt = output_format(data.format, "format", video=True if has_video(file) else None)
    if not has_video(file) and (data.width or data.height or data.video_codec or data.bitrate):
        raise ApiError(422, "file_id: the file has no video; width, height, video_codec and "
                       "bitrate do not apply")  # fmt: skip
    check_codec(fmt, "video", data.video_codec, "video_codec")
    check_codec(fmt, "audio", data.audio_codec, "audio_codec")
    check_even(data.width, "width")
    check_even(data.height, "height")
    options = data.model_dump(exclude={"file_id"})
    options["format"] = data.format.lower()
    return await _queue(user, "transcode", [file], fmt.extension, options)


async def extract_audio(user: User, data: s.ExtractIn) -> Job:
    file = await media_input(user, data.file_id)
    if not has_audio(file):
        raise ApiError(422, f"file_id: file {file.id} has no audio stream")
    fmt = output_format(data.format, "format", video=False)
    options = {"format": data.format.lower()}
    return await _queue(user, "extract_audio", [file], fmt.extension, options)


async def extract_video(user: User, data: s.ExtractIn) -> Job:
    file = await media_input(user, data.file_id)
    if not has_video(file):
        raise ApiError(422, f"file_id: file {file.id} has no video stream")
    fmt = output_format(data.format, "format", video=True)
    options = {"format": data.format.lower()}
    return await _queue(user, "extract_video", [file], fmt.extension, options)


async def merge(user: User, data: s.MergeIn) -> Job:
    files = [await media_input(user, fid, "file_ids") for fid in data.file_ids]
    videos = [has_video(f) for f in files]
    if data.merge_type == "concat":
        if len(set(videos)) > 1 or len({has_audio(f) for f in files}) > 1:
            raise ApiError(422, "file_ids: concat needs inputs with the same kinds of streams "
                           "(all with video or none, all with sound or none)")  # fmt: skip
    else:
        if not all(videos):
            raise ApiError(422, f"file_ids: {data.merge_type} needs video files only")
        if data.merge_type == "overlay" and len(files) != 2:
            raise ApiError(422, "file_ids: overlay takes exactly two videos")
        if data.merge_type == "side_by_side" and len(files) > 4:
            raise ApiError(422, "file_ids: side_by_side takes at most four videos")
    fmt = output_format(data.output_format, "output_format", video=True if any(videos) else None)
    options = {"format": data.output_format.lower(), "merge_type": data.merge_type}
    return await _queue(user, "merge", files, fmt.extension, options)


async def thumbnail(user: User, data: s.ThumbnailIn) -> Job:
    file = await media_input(user, data.file_id)
    if not has_video(file):
        raise ApiError(422, f"file_id: file {file.id} has no video stream")
    if file.duration is not None and data.timestamp >= file.duration:
        raise ApiError(
            422, f"timestamp: {data.timestamp} s is past the end ({file.duration:.2f} s)"
        )
    options = data.model_dump(exclude={"file_id"})
    extension = "jpg" if data.format == "jpeg" else "png"
    return await _queue(user, "thumbnail", [file], extension, options)


# -- generic form (POST /api/v1/media/process) -----------------------------------------------

PROCESS = {
    "transcode": (s.TranscodeIn, transcode),
    "extract_audio": (s.ExtractIn, extract_audio),
    "extract_video": (s.ExtractIn, extract_video),
    "thumbnail": (s.ThumbnailIn, thumbnail),
}


def _validated(schema: type[BaseModel], parameters: dict[str, Any]) -> Any:
    try:
        return schema.model_validate(parameters)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "parameters"
        prefix = "" if where == "file_id" else "parameters."
        detail = exc.errors(include_url=False, include_context=False, include_input=False)
        raise ApiError(422, f"{prefix}{where}: {first['msg']}", error=detail) from None


def process_operation(name: str) -> Any:
    schema, submit = PROCESS[name]

    async def run(user: User, parameters: dict[str, Any]) -> dict[str, Any]:
        job = await submit(user, _validated(schema, parameters))
        return {"job_id": job.id, "status": job.status.value}

    return run


# -- jobs --------------------------------------------------------------------------------------


async def finish(job: Job, result: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """In the server, after the child process: the output becomes a file of the requester."""
    output = workdir / f"output.{job.params['extension']}"
    file = await media.add_file(job.user_id, output, job.params["output_name"])
    return {"output_file_id": file.id}


async def job_of(user: User, job_id: int) -> Job:
    job = await get_platform().jobs.get(job_id)
    if (
        job is None
        or not job.kind.startswith(KIND_PREFIX)
        or (job.user_id != user.id and user.role != Role.ADMIN)
    ):
        raise ApiError(404, f"job {job_id} not found")
    return job


def job_shape(job: Job) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "file_id": job.params.get("file_id"),
        "job_type": job.kind.removeprefix(KIND_PREFIX),
        "status": job.status.value,
        "progress": job.progress,
        "output_file_id": (job.result or {}).get("output_file_id"),
        "error": job.error,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": iso(job.completed_at),
    }
