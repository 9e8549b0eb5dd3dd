"""Tortoise ORM: one app label per plugin, SQLite by default, PostgreSQL (asyncpg) by URL.

Known trap (tortoise-orm 1.x): `tortoise.contrib.quart.register_tortoise` fails inside requests
with "No TortoiseContext is currently active", because Quart serves requests in tasks that do not
inherit the before_serving task's context. We init in before_serving with the global fallback,
which makes the context visible to every task (tests/kernel/test_db.py guards this).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tortoise import Tortoise, connections
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.migrations.api import migrate

from kernel.settings import Settings, data_dir

log = logging.getLogger("platform.db")


@dataclass(frozen=True)
class ModelModule:
    """Models one plugin registered: Tortoise app `label`, its module and migrations package."""

    label: str
    models: str
    migrations: str | None = None


def database_url(settings: Settings) -> str:
    url = settings.get("database_url") or ""
    if url:
        return str(url)
    # WAL (tortoise's default) with synchronous=NORMAL: a commit no longer waits for an fsync
    # (milliseconds on a VM disk, paid by every chat message); a power cut may lose the last
    # commits, never the file's integrity. Deployments that need more use PostgreSQL.
    return f"sqlite://{(data_dir(settings) / 'platform.sqlite3').resolve()}?synchronous=NORMAL"


async def _keep_session(connection: Any) -> None:
    """asyncpg's pool resets a connection it takes back with one more round trip (RESET ALL,
    UNLISTEN *, CLOSE ALL, advisory unlocks), after rolling back an open transaction itself.
    Every query through tortoise takes a connection and gives it back, so that round trip
    doubled the cost of most queries. The platform sets no session variables, listens to
    nothing and holds no cursors or advisory locks: the rollback is all a release needs."""


def connection_config(url: str) -> str | dict[str, Any]:
    """The `default` connection of tortoise's config: the URL, expanded for asyncpg's pool."""
    config = expand_db_url(url)
    if config["engine"] != "tortoise.backends.asyncpg":
        return url
    config["credentials"]["reset"] = _keep_session
    return config


def tortoise_config(settings: Settings, modules: list[ModelModule]) -> dict[str, Any]:
    apps: dict[str, Any] = {}
    for module in modules:
        app = apps.setdefault(module.label, {"models": [], "default_connection": "default"})
        app["models"].append(module.models)
        if module.migrations:
            app["migrations"] = module.migrations
    return {
        "connections": {"default": connection_config(database_url(settings))},
        "apps": apps,
        "use_tz": True,
        "timezone": "UTC",
    }


async def bulk_insert(objects: list[Any], using_db: Any) -> None:
    """`Model.bulk_create(objects, using_db=...)`, in one statement on PostgreSQL.

    tortoise's bulk_create there is asyncpg's executemany, which binds and writes every row
    apart: in a busy node's chat batches that cost more than anything else. Here each column
    goes as one array into `INSERT ... SELECT * FROM unnest(...)`, its values through the
    field's own `to_db_value`; a generated id the objects lack comes from the table's sequence.
    The objects are of one model and alike in which ids they carry.
    """
    if not objects:
        return
    model = type(objects[0])
    if using_db.capabilities.dialect != "postgres":
        await model.bulk_create(objects, using_db=using_db)
        return
    meta = model._meta
    fields = [
        meta.fields_map[name]
        for name in meta.fields_db_projection
        if not (meta.fields_map[name].generated and getattr(objects[0], name) is None)
    ]
    columns = ", ".join(f'"{meta.fields_db_projection[f.model_field_name]}"' for f in fields)
    arrays = ", ".join(
        f"${i}::{f.get_for_dialect('postgres', 'SQL_TYPE')}[]" for i, f in enumerate(fields, 1)
    )
    values = [[f.to_db_value(getattr(o, f.model_field_name), o) for o in objects] for f in fields]
    await using_db.execute_query(
        f'INSERT INTO "{meta.db_table}" ({columns}) SELECT * FROM unnest({arrays})', values
    )


async def upgrade(config: dict[str, Any]) -> list[str]:
    """Apply pending migrations of every registered app; return the names applied."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")
            log.info("migration applied: %s.%s", app_label, name)

    if not config["apps"]:
        return applied
    try:
        await migrate(config=config, progress=progress)
    finally:
        await Tortoise.close_connections()
    return applied


async def open_database(config: dict[str, Any]) -> None:
    # tortoise caches compiled INSERT/DELETE SQL per connection name and table, not per dialect:
    # a process that opens SQLite and then PostgreSQL (the test suite) must start afresh.
    EXECUTOR_CACHE.clear()
    await Tortoise.init(config=config, _enable_global_fallback=True)


async def close_database() -> None:
    await Tortoise.close_connections()


async def ping() -> None:
    """Raise if the database does not answer."""
    await connections.get("default").execute_query("SELECT 1")
