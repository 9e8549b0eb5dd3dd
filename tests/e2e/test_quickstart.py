"""The client quick start of API.md, end to end through a real `platform serve`.

Register, log in, read the profile, create a meeting, join it, list participants, chat, and
find it under "my meetings": on SQLite, and on PostgreSQL with Redis as in a scale-out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

PLUGINS = '["users", "admin", "meetings", "my-meetings", "signaling"]'


@pytest.fixture(params=["sqlite", "postgres"])
def server(request):
    variables = {"PLATFORM_PLUGINS__ENABLED": PLUGINS}
    if request.param == "postgres":
        variables["PLATFORM_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        variables["PLATFORM_REDIS_URL"] = request.getfixturevalue("redis_url")
    # Asked for last, so its servers stop before the database is dropped.
    return request.getfixturevalue("start_server")(**variables)


def envelope(response: httpx.Response, status: int) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert body["code"] == status and body["request_id"] == response.headers["X-Request-ID"]
    return body["data"]


def test_quick_start(server):
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for name in ("alice", "bob"):
            envelope(
                http.post(
                    "/api/v1/auth/register",
                    json={
                        "username": name,
                        "email": f"{name}@example.com",
                        "password": "secret-1",
                        "nickname": name.title(),
                    },
                ),
                201,
            )
        tokens = {}
        for name in ("alice", "bob"):
            data = envelope(
                http.post("/api/v1/auth/login", json={"username": name, "password": "secret-1"}),
                200,
            )
            tokens[name] = {"Authorization": f"Bearer {data['token']}"}
        alice, bob = tokens["alice"], tokens["bob"]

        profile = envelope(http.get("/api/v1/users/profile", headers=alice), 200)
        assert (profile["username"], profile["nickname"], profile["role"]) == (
            "alice",
            "Alice",
            "user",
        )

        start = datetime.now(UTC) + timedelta(minutes=30)
        meeting = envelope(
            http.post(
                "/api/v1/meetings",
                headers=alice,
                json={
                    "title": "Kick-off",
                    "start_time": start.isoformat(),
                    "end_time": (start + timedelta(hours=1)).isoformat(),
                    "max_participants": 10,
                    "meeting_type": "video",
                    "settings": {"enable_chat": True},
                },
            ),
            201,
        )
        mid = meeting["meeting_id"]
        envelope(http.post(f"/api/v1/meetings/{mid}/start", headers=alice), 200)
        joined = envelope(http.post(f"/api/v1/meetings/{mid}/join", headers=bob), 200)
        assert joined["room_url"] == (f"ws://127.0.0.1:{server.port}/ws/signaling?meeting_id={mid}")
        assert isinstance(joined["ice_servers"], list)

        people = envelope(http.get(f"/api/v1/meetings/{mid}/participants", headers=bob), 200)
        assert {(p["username"], p["role"]) for p in people["participants"]} == {
            ("alice", "host"),
            ("bob", "participant"),
        }

        sent = envelope(
            http.post(
                f"/api/v1/meetings/{mid}/messages", headers=bob, json={"content": "Hello, Alice!"}
            ),
            201,
        )
        chat = envelope(http.get(f"/api/v1/meetings/{mid}/messages", headers=alice), 200)
        assert [(m["message_id"], m["username"], m["content"]) for m in chat["messages"]] == [
            (sent["message_id"], "bob", "Hello, Alice!")
        ]

        for who in (alice, bob):
            mine = envelope(http.get("/api/v1/my/meetings", headers=who), 200)
            assert [m["meeting_id"] for m in mine["meetings"]] == [mid]
            assert mine["meetings"][0]["status"] == "ongoing"
        assert mine["meetings"][0]["participant_count"] == 1

        envelope(http.post(f"/api/v1/meetings/{mid}/end", headers=alice), 200)
        history = envelope(http.get("/api/v1/my/meetings/history", headers=bob), 200)
        assert [m["meeting_id"] for m in history["meetings"]] == [mid]


def test_every_contract_endpoint_is_in_the_openapi_document(start_server):
    server = start_server(PLATFORM_PLUGINS__ENABLED=PLUGINS)
    spec = httpx.get(f"{server.url}/openapi.json").json()
    routes = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    expected = {
        ("POST", "/api/v1/auth/register"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/forgot-password"),
        ("POST", "/api/v1/auth/reset-password"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/users/profile"),
        ("PUT", "/api/v1/users/profile"),
        ("POST", "/api/v1/users/change-password"),
        ("POST", "/api/v1/users/upload-avatar"),
        ("DELETE", "/api/v1/users/account"),
        ("GET", "/api/v1/admin/users"),
        ("GET", "/api/v1/admin/users/{user_id}"),
        ("PUT", "/api/v1/admin/users/{user_id}"),
        ("DELETE", "/api/v1/admin/users/{user_id}"),
        ("POST", "/api/v1/admin/users/{user_id}/ban"),
        ("POST", "/api/v1/admin/users/{user_id}/unban"),
        ("POST", "/api/v1/meetings"),
        ("GET", "/api/v1/meetings"),
        ("GET", "/api/v1/meetings/{meeting_id}"),
        ("PUT", "/api/v1/meetings/{meeting_id}"),
        ("DELETE", "/api/v1/meetings/{meeting_id}"),
        ("POST", "/api/v1/meetings/{meeting_id}/start"),
        ("POST", "/api/v1/meetings/{meeting_id}/end"),
        ("POST", "/api/v1/meetings/{meeting_id}/join"),
        ("POST", "/api/v1/meetings/{meeting_id}/leave"),
        ("GET", "/api/v1/meetings/{meeting_id}/participants"),
        ("POST", "/api/v1/meetings/{meeting_id}/participants"),
        ("DELETE", "/api/v1/meetings/{meeting_id}/participants/{user_id}"),
        ("PUT", "/api/v1/meetings/{meeting_id}/participants/{user_id}/role"),
        ("POST", "/api/v1/meetings/{meeting_id}/recording/start"),
        ("POST", "/api/v1/meetings/{meeting_id}/recording/stop"),
        ("GET", "/api/v1/meetings/{meeting_id}/recordings"),
        ("GET", "/api/v1/meetings/{meeting_id}/messages"),
        ("POST", "/api/v1/meetings/{meeting_id}/messages"),
        ("GET", "/api/v1/my/meetings"),
        ("GET", "/api/v1/my/meetings/upcoming"),
        ("GET", "/api/v1/my/meetings/history"),
    }
    assert expected - routes == set()


def expected_class(method: str, path: str) -> str:
    """The rate-limit classes of API.md."""
    special = {
        "/api/v1/auth/register": "auth",
        "/api/v1/auth/login": "auth",
        "/api/v1/auth/forgot-password": "password_forgot",
        "/api/v1/auth/reset-password": "password_reset",
        "/api/v1/users/change-password": "password_change",
        "/api/v1/users/upload-avatar": "upload",
    }
    if path in special:
        return special[path]
    if path.endswith(("/recording/start", "/recording/stop")):
        return "media"
    return "high" if method == "GET" else "general"


def test_every_api_route_has_its_rate_limit_class(make_client_app):
    app = make_client_app
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            path = rule.rule.replace("<int:", "<")
            assert getattr(view, "rate_limit_class", None) == expected_class(method, path), (
                method,
                rule.rule,
            )
            checked += 1
    assert checked >= 37 + 5  # the contract's 1-37 and signaling's 39-43


@pytest.fixture
def make_client_app(settings_for):
    from kernel.app import create_app

    return create_app(settings_for(plugins={"enabled": json.loads(PLUGINS)}))
