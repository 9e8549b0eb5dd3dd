"""Rate limits: exact counts, concurrency, per user / per IP, config classes, Redis storage."""

from __future__ import annotations

import asyncio

import pytest
from quart import Blueprint

from kernel.api import hookimpl, ok, rate_limit, require_auth
from kernel.app import create_app

LOGIN = {"username": "nobody", "password": "wrong-password"}


def from_ip(address: str) -> dict:
    return {"scope_base": {"client": (address, 40000)}}


class LimitedRoutes:
    plugin_name = "limited"

    @hookimpl
    def register_rate_limits(self, register):
        register("probe", "3/minute")

    @hookimpl
    def register_blueprints(self, register):
        bp = Blueprint("limited", __name__)

        @bp.get("/limited/mine")
        @rate_limit("general")
        @require_auth
        async def mine():
            return ok({})

        @bp.get("/limited/probe")
        @rate_limit("probe")
        async def probe():
            return ok({})

        register(bp)


@pytest.fixture(params=["memory", "redis"])
def storage(request) -> dict:
    if request.param == "memory":
        return {}
    return {"redis_url": request.getfixturevalue("redis_url")}


async def test_sixth_login_in_a_minute_is_429(make_client, storage):
    async with make_client(**storage) as client:
        statuses = []
        for _ in range(6):
            response = await client.post("/api/v1/auth/login", json=LOGIN)
            statuses.append(response.status_code)
        body = await response.get_json()
    assert statuses == [401] * 5 + [429]
    assert body["code"] == 429 and "auth" in body["message"]
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) > 0


async def test_limit_is_exact_under_concurrent_requests(make_client, storage):
    async with make_client(**storage) as client:
        responses = await asyncio.gather(
            *(client.post("/api/v1/auth/login", json=LOGIN) for _ in range(12))
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(429) == 7
    assert statuses.count(401) == 5


async def test_remaining_counts_down(make_client):
    async with make_client() as client:
        remaining = []
        for _ in range(3):
            response = await client.post("/api/v1/auth/login", json=LOGIN)
            remaining.append(response.headers["X-RateLimit-Remaining"])
    assert remaining == ["4", "3", "2"]


async def test_anonymous_clients_are_counted_per_ip(make_client):
    async with make_client() as client:
        for _ in range(5):
            await client.post("/api/v1/auth/login", json=LOGIN, **from_ip("10.0.0.1"))
        blocked = await client.post("/api/v1/auth/login", json=LOGIN, **from_ip("10.0.0.1"))
        other = await client.post("/api/v1/auth/login", json=LOGIN, **from_ip("10.0.0.2"))
    assert blocked.status_code == 429
    assert other.status_code == 401


async def test_forwarded_for_is_used_only_when_trusted(make_client):
    for trusted, expected in ((False, 429), (True, 401)):
        async with make_client(ratelimit={"trust_forwarded_for": trusted}) as client:
            for i in range(5):
                await client.post(
                    "/api/v1/auth/login", json=LOGIN, headers={"X-Forwarded-For": f"192.0.2.{i}"}
                )
            last = await client.post(
                "/api/v1/auth/login", json=LOGIN, headers={"X-Forwarded-For": "192.0.2.99"}
            )
        assert last.status_code == expected, trusted


async def test_authenticated_users_are_counted_per_user(make_client):
    async with make_client(
        extra_plugins=[LimitedRoutes()], rate_limits={"general": "2/minute"}
    ) as client:
        platform = client.app.extensions["platform"]
        tokens = []
        for name in ("ann", "ben"):
            await platform.auth.create_user(name, f"{name}@example.com", "password-1")
            pair, _ = await platform.auth.login(name, "password-1")
            tokens.append({"Authorization": f"Bearer {pair.token}"})
        ann = [(await client.get("/limited/mine", headers=tokens[0])).status_code for _ in range(3)]
        ben = (await client.get("/limited/mine", headers=tokens[1])).status_code
    assert ann == [200, 200, 429]
    assert ben == 200  # same IP, another user


async def test_plugin_class_and_config_override(make_client):
    async with make_client(extra_plugins=[LimitedRoutes()]) as client:
        plugin_default = [(await client.get("/limited/probe")).status_code for _ in range(4)]
    async with make_client(extra_plugins=[LimitedRoutes()], rate_limits={"probe": "1/minute"}) as c:
        configured = [(await c.get("/limited/probe")).status_code for _ in range(2)]
    assert plugin_default == [200, 200, 200, 429]
    assert configured == [200, 429]


async def test_limits_can_be_switched_off(make_client):
    async with make_client(ratelimit={"enabled": False}) as client:
        statuses = {
            (await client.post("/api/v1/auth/login", json=LOGIN)).status_code for _ in range(7)
        }
    assert statuses == {401}


def test_invalid_limit_in_config_is_a_clear_startup_error(settings_for):
    with pytest.raises(ValueError, match="rate limit 'auth'"):
        create_app(settings_for(rate_limits={"auth": "five per minute"}))
