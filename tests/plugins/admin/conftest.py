"""Fixtures of the admin tests: an app with users + admin, an admin, quick users, a recorder."""

from __future__ import annotations

from typing import Any

import pytest

from kernel.api import Role, User, UserStatus

PASSWORD = "s3cret-pass"
ADMIN_PLUGINS = {"plugins": {"enabled": ["users", "admin"]}}
USERS = "/api/v1/admin/users"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(client, username: str, password: str = PASSWORD):
    """(response, data) of a login over HTTP."""
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    return response, (await response.get_json()).get("data")


class Accounts:
    """Accounts of one test. `login_as` makes a real account (argon2) and logs in over HTTP;
    `quick` makes a row that nobody logs in with (no hashing: fast)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.auth = client.app.extensions["platform"].auth

    async def login_as(self, username: str, role: Role = Role.USER, **fields) -> dict[str, Any]:
        user = await self.auth.create_user(
            username, f"{username}@example.com", PASSWORD, role=role, **fields
        )
        response, data = await login(self.client, username)
        assert response.status_code == 200, data
        return {"user_id": user.id, **data, "headers": bearer(data["token"])}

    async def quick(self, username: str, **fields) -> User:
        fields.setdefault("email", f"{username}@example.com")
        return await User.create(username=username, password_hash="!", **fields)


async def status_of(user_id: int) -> UserStatus:
    return (await User.get(id=user_id)).status


@pytest.fixture
async def admin_client(make_client, db_overrides, recorder):
    """users + admin on SQLite and on PostgreSQL (limits are tested on their own)."""
    async with make_client(
        extra_plugins=[recorder], ratelimit={"enabled": False}, **ADMIN_PLUGINS, **db_overrides
    ) as client:
        yield client


@pytest.fixture
async def sqlite_client(make_client, recorder):
    async with make_client(
        extra_plugins=[recorder], ratelimit={"enabled": False}, **ADMIN_PLUGINS
    ) as client:
        yield client


@pytest.fixture
def accounts(admin_client) -> Accounts:
    return Accounts(admin_client)


@pytest.fixture
def sqlite_accounts(sqlite_client) -> Accounts:
    return Accounts(sqlite_client)
