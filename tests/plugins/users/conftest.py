"""Fixtures of the users tests: an app with the users plugin, accounts, an event recorder."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image
from quart.datastructures import FileStorage

PASSWORD = "s3cret-pass"
USERS = {"plugins": {"enabled": ["users"]}}
PROFILE = "/api/v1/users/profile"
CHANGE_PASSWORD = "/api/v1/users/change-password"
UPLOAD = "/api/v1/users/upload-avatar"
ACCOUNT = "/api/v1/users/account"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def register(client, username: str, email: str | None = None, **extra) -> int:
    payload = {"username": username, "email": email or f"{username}@example.com"}
    response = await client.post(
        "/api/v1/auth/register", json=payload | {"password": PASSWORD} | extra
    )
    assert response.status_code == 201, await response.get_json()
    return (await response.get_json())["data"]["user_id"]


async def login(client, username: str, password: str = PASSWORD):
    """(response, data) of a login."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    return response, (await response.get_json()).get("data")


async def signed_in(client, username: str, **extra) -> dict[str, Any]:
    """Register and log in: {user_id, token, refresh_token, headers}."""
    user_id = await register(client, username, **extra)
    response, data = await login(client, username)
    assert response.status_code == 200
    return {"user_id": user_id, **data, "headers": bearer(data["token"])}


def image_bytes(size=(800, 400), fmt="PNG", mode="RGB", color="red", **save) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **save)
    return buffer.getvalue()


def upload(data: bytes, filename="avatar.png", content_type="image/png") -> dict[str, Any]:
    """The `files` argument of the test client for one multipart field `file`."""
    return {"file": FileStorage(io.BytesIO(data), filename=filename, content_type=content_type)}


@pytest.fixture
async def users_client(make_client, db_overrides, recorder):
    """The users plugin on SQLite and on PostgreSQL (limits have a test of their own)."""
    async with make_client(
        extra_plugins=[recorder], ratelimit={"enabled": False}, **USERS, **db_overrides
    ) as client:
        yield client


@pytest.fixture
async def sqlite_client(make_client, recorder):
    """The users plugin on SQLite, for the tests that do not depend on the database."""
    async with make_client(extra_plugins=[recorder], ratelimit={"enabled": False}, **USERS) as c:
        yield c


@pytest.fixture
def avatars(tmp_path):
    """The avatars directory of the test's app (see tests/conftest.py: data_dir)."""
    return tmp_path / "data" / "avatars"
