"""The embedded database: SQLite in the data directory; a commit does not wait for an fsync.
PostgreSQL: a connection goes back to the pool without a reset query; bulk_insert."""

from __future__ import annotations

import asyncpg
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from kernel.api import Role, User, UserStatus, bulk_insert


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


async def test_bulk_insert_stores_rows_as_bulk_create_would(make_client, db_overrides):
    # On PostgreSQL one unnest insert: enums, NULLs, auto times and generated ids all as usual.
    async with make_client(**db_overrides):
        db = connections.get("default")
        users = [
            User(username=f"bulk{n}", email=f"b{n}@example.com", password_hash="x", nickname=nick)
            for n, nick in enumerate(["Ann", None, "Émile"])
        ]
        users[0].role = Role.ADMIN
        await bulk_insert(users, db)
        await bulk_insert([], db)
        stored = await User.filter(username__startswith="bulk").order_by("id")
    assert [(u.username, u.nickname, u.role, u.status) for u in stored] == [
        ("bulk0", "Ann", Role.ADMIN, UserStatus.ACTIVE),
        ("bulk1", None, Role.USER, UserStatus.ACTIVE),
        ("bulk2", "Émile", Role.USER, UserStatus.ACTIVE),
    ]
    assert len({u.id for u in stored}) == 3
    assert all(u.created_at is not None and u.updated_at is not None for u in stored)
