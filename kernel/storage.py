"""File storage behind the `storage_backend` hook: a local directory unless a plugin answers.

Keys are relative paths chosen by plugins (never by clients), e.g. `media/2026/11/<uuid>.mp4`.
Writes are atomic: data goes to a temporary file that is renamed into place only when complete,
so a failed or aborted write leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Protocol, runtime_checkable

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")
READ_CHUNK = 256 * 1024


class StorageError(RuntimeError):
    """A storage operation failed (the message says which key and why)."""


class StorageLimitExceeded(StorageError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@runtime_checkable
class Storage(Protocol):
    """What a storage backend offers; all methods are safe to call from the event loop."""

    async def save(
        self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None
    ) -> int:
        """Write `chunks` under `key` atomically; answers the size. Raises StorageLimitExceeded."""

    async def import_file(self, key: str, path: Path) -> int:
        """Move the local file `path` under `key` (job outputs); answers the size."""

    async def size(self, key: str) -> int | None:
        """The size of `key` in bytes, or None when it does not exist."""

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes `start`..`end` (inclusive; None: to the end) of `key`, in chunks."""

    async def delete(self, key: str) -> bool:
        """Remove `key`; answers whether it existed."""

    def local_path(self, key: str) -> contextlib.AbstractAsyncContextManager[Path]:
        """A local file with the content of `key` for libraries that need a path (FFmpeg)."""

    def scratch_dir(self) -> Path:
        """A local directory for work files; job outputs written there can be imported cheaply."""


def check_key(key: str) -> str:
    if not isinstance(key, str) or len(key) > 500 or not KEY_PATTERN.match(key) or ".." in key:
        raise StorageError(f"invalid storage key {key!r}")
    return key


class LocalStorage:
    """Files under one directory (`<data_dir>/media` by default; a shared path when scaled out)."""

    def __init__(self, root: Path) -> None:
        self.root = root.expanduser().resolve()

    def path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if self.root not in path.parents:
            raise StorageError(f"invalid storage key {key!r}")
        return path

    def scratch_dir(self) -> Path:
        path = self.root / ".tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    async def save(
        self, key: str, chunks: AsyncIterable[bytes], *, limit: int | None = None
    ) -> int:
        target = self.path(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        temp = self.scratch_dir() / f"upload-{uuid.uuid4().hex}"
        handle = await asyncio.to_thread(open, temp, "xb")
        size = 0
        try:
            async for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise StorageLimitExceeded(limit)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(_close_and_sync, handle)
            await asyncio.to_thread(os.replace, temp, target)
        except BaseException:
            # Aborted uploads (client gone, limit, cancellation) leave no partial file.
            handle.close()
            temp.unlink(missing_ok=True)
            raise
        return size

    async def import_file(self, key: str, path: Path) -> int:
        target = self.path(key)
        await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread(shutil.move, path, target)
        return target.stat().st_size

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self.path(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(open, self.path(key), "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                want = READ_CHUNK if remaining is None else min(READ_CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, want)
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> bool:
        try:
            await asyncio.to_thread(self.path(key).unlink)
        except FileNotFoundError:
            return False
        return True

    @contextlib.asynccontextmanager
    async def local_path(self, key: str) -> AsyncIterator[Path]:
        path = self.path(key)
        if not path.is_file():
            raise StorageError(f"{key}: no such file")
        yield path


def _close_and_sync(handle: object) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()
