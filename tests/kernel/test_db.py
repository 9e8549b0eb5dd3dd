"""The embedded database: SQLite in the data directory; a commit does not wait for an fsync."""

from __future__ import annotations

from tortoise import connections


async def test_embedded_sqlite_uses_wal_without_an_fsync_per_commit(make_client, tmp_path):
    async with make_client():
        db = connections.get("default")
        _, journal = await db.execute_query("PRAGMA journal_mode")
        _, synchronous = await db.execute_query("PRAGMA synchronous")
        assert dict(journal[0]) == {"journal_mode": "wal"}
        assert dict(synchronous[0]) == {"synchronous": 1}  # NORMAL (FULL is 2)
        assert (tmp_path / "data" / "platform.sqlite3").is_file()
