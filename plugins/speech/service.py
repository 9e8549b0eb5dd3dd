"""Speech: audio from a file, base64 or this deployment's own media URL, to an engine job.

Engines are plugins (hook `register_speech_engines`); their work runs as kernel jobs in worker
processes (or on AI nodes through the shared queue), never on the event loop. A request waits
for its job up to `speech.timeout` seconds.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kernel.api import ApiError, JobStatus, User, get_platform, public_url
from plugins.media import service as media
from plugins.speech.schemas import SpeechIn

AI_UNAVAILABLE = 4001
AI_FAILED = 4002
MEDIA_PATH = re.compile(r"^/api/v1/media/download/(\d+)$")


@dataclass(frozen=True)
class Engine:
    task: str
    name: str
    kind: str | None
    languages: tuple[str, ...] | None
    options: dict[str, Any]
    unavailable: str | None = None  # why it cannot run, naming what to set up
    grammar: bool = False  # honours a request's `grammar` (recognition restricted to phrases)

    def speaks(self, language: str) -> bool:
        return self.languages is None or language.split("-")[0].lower() in self.languages


def engines(task: str) -> list[Engine]:
    found: list[Engine] = []

    def register(
        task_: str,
        name: str,
        kind: str | None,
        languages: Any = ("en",),
        options: Any = None,
        unavailable: str | None = None,
        grammar: bool = False,
    ) -> None:
        langs = tuple(languages) if languages is not None else None
        found.append(
            Engine(task_, name, kind, langs, dict(options or {}), unavailable, bool(grammar))
        )

    get_platform().plugins.hook.register_speech_engines(register=register)
    return [engine for engine in found if engine.task == task]


def pick(task: str, language: str, grammar: bool = False) -> Engine:
    """The engine for a request: the configured one (`speech.<task>_engine`) or the first ready
    engine that speaks the language; 503 naming the settings to set when none is set up."""
    preferred = get_platform().settings.get(f"speech.{task}_engine") or None
    chosen = [e for e in engines(task) if preferred is None or e.name == preferred]
    ready = [e for e in chosen if e.unavailable is None and e.speaks(language)]
    for engine in ready:
        if engine.grammar or not grammar:
            return engine
    if ready:
        names = ", ".join(e.name for e in ready)
        raise ApiError(422, f"grammar: the {task} engines for {language!r} ({names}) ignore it")
    # An engine that is not set up has no model whose language could be checked: it is the
    # answer to "what should I configure", whatever the language.
    not_set_up = [e for e in chosen if e.unavailable is not None]
    if not_set_up:
        hints = "; ".join(f"{e.name}: {e.unavailable}" for e in not_set_up)
        raise ApiError(
            503, f"no {task} engine is set up for {language!r} ({hints})", AI_UNAVAILABLE
        )
    if not chosen:
        if preferred is not None:
            message = f"speech.{task}_engine is {preferred!r}, which is not enabled on this server"
        else:
            message = f"no {task} engine is enabled on this server"
        raise ApiError(503, message, AI_UNAVAILABLE)
    raise ApiError(422, f"language: {language!r} is not supported by the {task} engines")


@contextlib.asynccontextmanager
async def audio_input(user: User, data: SpeechIn) -> AsyncIterator[Path]:
    """A local file with the request's audio, whichever way it came; temporary ones go after."""
    if data.file_id is not None:
        async with media.local_copy(await media.readable_file(data.file_id, user)) as path:
            yield path
        return
    if data.audio_url is not None:
        file_id = own_media_id(data.audio_url)
        async with media.local_copy(await media.readable_file(file_id, user, "audio_url")) as path:
            yield path
        return
    limit = int(get_platform().settings.get("speech.max_audio_bytes", 10 * 1024 * 1024))
    async with media.inline_file(data.audio_data, limit, "audio_data") as path:
        yield path


def own_media_id(url: str) -> int:
    """The media file an audio_url names; only this deployment's own media URLs are fetched.

    Nothing is requested from the network for it, so a URL cannot make the server reach an
    internal address.
    """
    parts = urlsplit(url)
    own = urlsplit(public_url("/"))
    match = MEDIA_PATH.match(parts.path)
    if parts.scheme in ("http", "https") and parts.netloc == own.netloc and match:
        return int(match.group(1))
    raise ApiError(
        422, "audio_url: only this deployment's media URLs (/api/v1/media/download/<id>)"
    )


async def run(user: User, task: str, data: SpeechIn) -> dict[str, Any]:
    if data.grammar is not None and task != "recognition":
        raise ApiError(422, "grammar: only recognition can be restricted to phrases")
    engine = pick(task, data.language, grammar=data.grammar is not None)
    assert engine.kind is not None  # engines that are not set up were refused above
    jobs = get_platform().jobs
    async with audio_input(user, data) as path:
        params = {
            **engine.options,
            "path": str(path),
            "language": data.language,
            "raw_rate": data.sample_rate if data.audio_format == "pcm_s16le" else None,
        }
        if data.grammar is not None:
            params["grammar"] = data.grammar
        job = await jobs.submit(engine.kind, user_id=user.id, params=params)
        timeout = float(get_platform().settings.get("speech.timeout", 120))
        try:
            job = await jobs.wait(job, timeout)
        except TimeoutError:
            raise ApiError(503, f"{task} took longer than {timeout:g} s", AI_UNAVAILABLE) from None
    if job.status == JobStatus.FAILED:
        raise ApiError(422, f"{task} failed: {job.error}", AI_FAILED)
    return {**(job.result or {}), "engine": engine.name}
