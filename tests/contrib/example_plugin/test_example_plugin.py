"""The example plugin (contrib/example-plugin), installed as its own distribution.

It must be installed in the environment (`pip install -e contrib/example-plugin`); the kernel finds
it only through its entry point in the group `meeting_platform.plugins`.
"""

from __future__ import annotations

import importlib.metadata
import json
import sqlite3
from contextlib import closing

import pytest

from kernel.api import Role

try:
    from example_plugin import service
except ImportError:  # pragma: no cover - the message says what to do
    pytest.fail(
        "the example plugin is not installed: pip install -e contrib/example-plugin",
        pytrace=False,
    )

ENABLED = {"plugins": {"enabled": ["example"]}}  # base_settings enables no plugin
NOTES = "/api/v1/example/notes"
VERSION = importlib.metadata.version("meeting-platform-example-plugin")


async def login(client, username: str, password: str = "secret123") -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    assert response.status_code == 200, await response.get_data(as_text=True)
    token = (await response.get_json())["data"]["token"]
    return {"Authorization": f"Bearer {token}"}


async def register(client, username: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": "secret123"},
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    return await login(client, username)


async def admin_headers(client) -> dict[str, str]:
    auth = client.app.extensions["platform"].auth
    await auth.create_user("root", "root@example.com", "secret123", role=Role.ADMIN)
    return await login(client, "root")


async def plugin_row(client) -> dict:
    response = await client.get("/-/plugins", headers=await admin_headers(client))
    assert response.status_code == 200
    rows = {row["name"]: row for row in (await response.get_json())["data"]["plugins"]}
    assert "example" in rows, f"example plugin not discovered: {sorted(rows)}"
    return rows["example"]


# -- discovery -----------------------------------------------------------------------------------


async def test_discovered_through_its_entry_point_and_loaded(make_client):
    async with make_client(**ENABLED) as client:
        row = await plugin_row(client)
        assert row["enabled"] is True
        assert row["loaded"] is True
        assert row["builtin"] is False
        assert row["version"] == VERSION == "0.1.0"
        assert row["distribution"] == "meeting-platform-example-plugin"
        assert row["error"] is None
        assert row["hooks"] == ["on_event", "register_blueprints", "register_models"]
        schema = await (await client.get("/openapi.json")).get_json()
        assert set(schema["paths"][NOTES]) == {"get", "post"}


async def test_installed_but_not_enabled_serves_nothing(make_client):
    async with make_client() as client:  # base_settings enables no plugin
        row = await plugin_row(client)
        assert row["enabled"] is False
        assert row["loaded"] is False
        assert row["hooks"] == []
        headers = await register(client, "alice")
        response = await client.get(NOTES, headers=headers)
        assert response.status_code == 404


# -- routes --------------------------------------------------------------------------------------


async def test_notes_end_to_end(make_client, db_overrides):
    async with make_client(**ENABLED, **db_overrides) as client:
        alice = await register(client, "alice")
        response = await client.post(NOTES, json={"text": "buy milk"}, headers=alice)
        body = await response.get_json()
        assert response.status_code == 201
        assert body["code"] == 201
        assert body["message"] == "note created"
        assert body["request_id"] == response.headers["X-Request-ID"]
        note = body["data"]
        assert note["text"] == "buy milk"
        assert isinstance(note["note_id"], int)
        assert note["created_at"].endswith("Z")

        response = await client.get(NOTES, headers=alice)
        assert response.status_code == 200
        assert (await response.get_json())["data"] == {
            "notes": [note],
            "total": 1,
            "page": 1,
            "page_size": 20,
        }

        bob = await register(client, "bob")
        data = (await (await client.get(NOTES, headers=bob)).get_json())["data"]
        assert data["notes"] == []
        assert data["total"] == 0


async def test_list_pages_newest_first(make_client):
    async with make_client(**ENABLED) as client:
        alice = await register(client, "alice")
        for text in ("one", "two", "three"):
            response = await client.post(NOTES, json={"text": text}, headers=alice)
            assert response.status_code == 201
        first = (await (await client.get(f"{NOTES}?page_size=2", headers=alice)).get_json())["data"]
        assert [n["text"] for n in first["notes"]] == ["three", "two"]
        assert (first["total"], first["page"], first["page_size"]) == (3, 1, 2)
        second = await client.get(f"{NOTES}?page=2&page_size=2", headers=alice)
        assert [n["text"] for n in (await second.get_json())["data"]["notes"]] == ["one"]

        response = await client.get(f"{NOTES}?page_size=101", headers=alice)
        assert response.status_code == 422
        assert "page_size" in (await response.get_json())["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "x" * 2001}, "text"),
        ({"text": "hi", "colour": 1}, "colour"),
    ],
)
async def test_invalid_note_is_422_naming_the_field(make_client, body, field):
    async with make_client(**ENABLED) as client:
        alice = await register(client, "alice")
        response = await client.post(NOTES, json=body, headers=alice)
        envelope = await response.get_json()
        assert response.status_code == 422
        assert envelope["message"].startswith(f"{field}:")
        assert envelope["error"][0]["field"] == field
        listed = (await (await client.get(NOTES, headers=alice)).get_json())["data"]
        assert listed["total"] == 0


async def test_notes_need_a_token(make_client):
    async with make_client(**ENABLED) as client:
        response = await client.post(NOTES, json={"text": "buy milk"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert (await client.get(NOTES)).status_code == 401
        bad = {"Authorization": "Bearer not-a-token"}
        assert (await client.get(NOTES, headers=bad)).status_code == 401


# -- migration and events ------------------------------------------------------------------------


async def test_migration_created_its_table(make_client, tmp_path):
    async with make_client(**ENABLED):
        pass
    with closing(sqlite3.connect(tmp_path / "data" / "platform.sqlite3")) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(example_notes)")}
        applied = set(conn.execute("SELECT app, name FROM tortoise_migrations"))
    assert columns == {"id", "user_id", "text", "created_at"}
    assert ("example", "0001_initial") in applied


async def test_no_table_when_not_enabled(make_client, tmp_path):
    async with make_client():
        pass
    with closing(sqlite3.connect(tmp_path / "data" / "platform.sqlite3")) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert "users" in tables
    assert "example_notes" not in tables


async def test_on_event_sees_kernel_and_own_events(make_client):
    async with make_client(**ENABLED) as client:
        registered = service.events_seen["user.registered"]
        created = service.events_seen["example.note_created"]
        alice = await register(client, "alice")
        assert service.events_seen["user.registered"] == registered + 1
        assert service.latest_events["user.registered"].data["username"] == "alice"

        response = await client.post(NOTES, json={"text": "buy milk"}, headers=alice)
        note_id = (await response.get_json())["data"]["note_id"]
        assert service.events_seen["example.note_created"] == created + 1
        assert service.latest_events["example.note_created"].data["note_id"] == note_id


async def test_on_event_not_called_when_not_enabled(make_client):
    async with make_client() as client:
        registered = service.events_seen["user.registered"]
        await register(client, "alice")
        assert service.events_seen["user.registered"] == registered


# -- CLI -----------------------------------------------------------------------------------------


def plugins_list(run_cli, enabled: str, *args: str) -> str:
    result = run_cli("plugins", "list", *args, PLATFORM_PLUGINS__ENABLED=enabled)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cli_plugins_list_shows_it_loaded(run_cli):
    lines = plugins_list(run_cli, '["example"]').splitlines()
    line = next((line for line in lines if line.split()[:1] == ["example"]), None)
    assert line is not None, lines
    assert line.split()[1:3] == [VERSION, "loaded"]
    assert "on_event, register_blueprints, register_models" in line

    rows = {row["name"]: row for row in json.loads(plugins_list(run_cli, '["example"]', "--json"))}
    assert rows["example"]["loaded"] is True
    assert rows["example"]["version"] == VERSION
    assert rows["example"]["hooks"] == ["on_event", "register_blueprints", "register_models"]


def test_cli_plugins_list_shows_it_disabled(run_cli):
    rows = {row["name"]: row for row in json.loads(plugins_list(run_cli, "[]", "--json"))}
    assert rows["example"]["enabled"] is False
    assert rows["example"]["loaded"] is False
