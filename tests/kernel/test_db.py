"""The embedded database: SQLite in the data directory; a commit does not wait for an fsync.
PostgreSQL: a connection goes back to the pool without a reset query."""

from __future__ import annotations

import asyncpg
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction


async def test_embedded_sqlite_uses_wal_without_an_fsync_per_commit(make_client, tmp_path):
    async with make_client():
        db = connections.get("default")
        _, journal = await db.execute_query("PRAGMA journal_mode")
        _, synchronous = await db.execute_query("PRAGMA synchronous")
        assert dict(journal[0]) == {"journal_mode": "wal"}
        assert dict(synchronous[0]) == {"synchronous": 1}  # NORMAL (FULL is 2)
        assert (tmp_path / "data" / "platform.sqlite3").is_file()


async def test_postgres_pool_takes_connections_back_without_a_reset_round_trip(
    make_client, postgres_url, monkeypatch
):
    resets = []
    original = asyncpg.Connection.reset

    async def counted(self, **kwargs):
        resets.append(self)
        await original(self, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "reset", counted)
    async with make_client(database_url=postgres_url):
        db = connections.get("default")
        await db.execute_script("CREATE TABLE probe (n INT)")
        for n in range(3):
            await db.execute_query("INSERT INTO probe VALUES ($1)", [n])
        # A transaction that fails is still rolled back when its connection goes back.
        with pytest.raises(RuntimeError):
            async with in_transaction() as conn:
                await conn.execute_query("INSERT INTO probe VALUES (99)")
                raise RuntimeError("the request failed half-way")
        _, rows = await db.execute_query("SELECT count(*) AS n FROM probe")
        assert rows[0]["n"] == 3
    assert resets == []
