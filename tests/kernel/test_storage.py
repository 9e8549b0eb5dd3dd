"""Local storage: keys cannot escape the root, writes are atomic, reads honour byte ranges."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernel.api import hookimpl
from kernel.app import create_app
from kernel.plugins import PluginError
from kernel.storage import LocalStorage, StorageError, StorageLimitExceeded


async def chunks_of(*parts: bytes, fail_after: int | None = None) -> Any:
    for index, part in enumerate(parts):
        if fail_after is not None and index == fail_after:
            raise ConnectionResetError("client went away")
        yield part


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "key", ["../escape", "/etc/passwd", "a/../../b", ".hidden", "a//b", "a\\b", "", "a/./b"]
)
async def test_keys_that_could_escape_the_root_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "media")
    with pytest.raises(StorageError):
        await storage.save(key, chunks_of(b"x"))
    assert not (tmp_path / "escape").exists()


async def test_save_then_read_whole_and_ranges(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    data = bytes(range(256)) * 4096  # 1 MiB, several read chunks
    assert await storage.save("media/2026/a.bin", chunks_of(data[:1000], data[1000:])) == len(data)
    assert await storage.size("media/2026/a.bin") == len(data)
    assert b"".join([c async for c in storage.read("media/2026/a.bin")]) == data
    ranged = b"".join([c async for c in storage.read("media/2026/a.bin", 300_000, 700_000)])
    assert ranged == data[300_000:700_001]
    async with storage.local_path("media/2026/a.bin") as path:
        assert path.read_bytes() == data
    assert await storage.delete("media/2026/a.bin") is True
    assert await storage.delete("media/2026/a.bin") is False
    assert await storage.size("media/2026/a.bin") is None


async def test_failed_or_oversized_writes_leave_nothing(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    with pytest.raises(ConnectionResetError):
        await storage.save("a.bin", chunks_of(b"x" * 1000, b"y" * 1000, fail_after=1))
    with pytest.raises(StorageLimitExceeded):
        await storage.save("b.bin", chunks_of(b"x" * 600, b"y" * 600), limit=1000)
    assert leftovers(tmp_path / "media") == []


async def test_an_existing_file_is_replaced_only_when_the_new_one_is_complete(
    tmp_path: Path,
) -> None:
    storage = LocalStorage(tmp_path / "media")
    await storage.save("a.bin", chunks_of(b"old"))
    with pytest.raises(ConnectionResetError):
        await storage.save("a.bin", chunks_of(b"new", b"more", fail_after=1))
    assert (tmp_path / "media" / "a.bin").read_bytes() == b"old"


async def test_import_file_moves_a_local_file_in(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    work = storage.scratch_dir() / "job-1"
    work.mkdir()
    (work / "out.mp4").write_bytes(b"z" * 10)
    assert await storage.import_file("media/out.mp4", work / "out.mp4") == 10
    assert not (work / "out.mp4").exists()
    assert (tmp_path / "media" / "media" / "out.mp4").read_bytes() == b"z" * 10


class MemoryBackend:
    plugin_name = "memory-storage"

    def __init__(self) -> None:
        self.storage = LocalStorage(Path("/nonexistent-root"))

    @hookimpl
    def storage_backend(self, settings: Any) -> Any:
        return self.storage


class BrokenBackend:
    plugin_name = "broken-storage"

    @hookimpl
    def storage_backend(self, settings: Any) -> Any:
        return "not a storage"


async def test_a_plugin_replaces_the_storage(make_client: Any, tmp_path: Path) -> None:
    backend = MemoryBackend()
    async with make_client(extra_plugins=[backend]) as client:
        assert client.app.extensions["platform"].storage is backend.storage
    async with make_client() as client:
        default = client.app.extensions["platform"].storage
        assert default.root == (tmp_path / "data" / "media").resolve()


def test_a_storage_plugin_answering_nonsense_stops_startup(settings_for: Any) -> None:
    with pytest.raises(PluginError, match="storage_backend answered 'not a storage'"):
        create_app(settings_for(), plugins=[BrokenBackend()])
