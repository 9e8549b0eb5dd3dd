"""Two `platform serve` nodes sharing PostgreSQL and Redis behave as one deployment."""

from __future__ import annotations

import httpx
import pytest


@pytest.fixture
def two_nodes(postgres_url, redis_url, start_server):
    # start_server last: its servers stop before the database is dropped.
    shared = {"PLATFORM_DATABASE_URL": postgres_url, "PLATFORM_REDIS_URL": redis_url}
    first = start_server(PLATFORM_NODE_NAME="node-a", **shared)
    second = start_server(PLATFORM_NODE_NAME="node-b", **shared)
    return first, second


def test_nodes_share_accounts_and_rate_limits(two_nodes):
    node_a, node_b = two_nodes
    for node in two_nodes:
        ready = httpx.get(f"{node.url}/readyz").json()
        assert ready["data"]["checks"] == {"database": "ok", "redis": "ok"}

    created = httpx.post(
        f"{node_a.url}/api/v1/auth/register",
        json={"username": "nina", "email": "nina@example.com", "password": "password-1"},
    )
    assert created.status_code == 201
    # Logged in on B with the account made on A, then refreshed on A: one deployment.
    logged_in = httpx.post(
        f"{node_b.url}/api/v1/auth/login", json={"username": "nina", "password": "password-1"}
    )
    assert logged_in.status_code == 200
    refreshed = httpx.post(
        f"{node_a.url}/api/v1/auth/refresh",
        json={"refresh_token": logged_in.json()["data"]["refresh_token"]},
    )
    assert refreshed.status_code == 200

    # Logins allow 5 per minute per client, counted across both nodes (one was above).
    statuses = [
        httpx.post(
            f"{node.url}/api/v1/auth/login", json={"username": "nina", "password": "wrong-pass"}
        ).status_code
        for node in (node_a, node_b, node_a, node_b, node_a)
    ]
    assert statuses == [401, 401, 401, 401, 429]


def test_startup_with_unreachable_redis_is_a_clear_error(run_cli):
    result = run_cli("serve", "--port", "0", PLATFORM_REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode == 1
    assert "redis_url redis://127.0.0.1:1/0: cannot connect" in result.stderr
