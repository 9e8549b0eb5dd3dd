"""Users (6-8, 10): profile, change password, account deletion, their errors and limits."""

from __future__ import annotations

import pytest

from kernel.api import ApiError, Role, User, UserStatus
from plugins.users import service

from .conftest import (
    ACCOUNT,
    CHANGE_PASSWORD,
    PASSWORD,
    PROFILE,
    UPLOAD,
    USERS,
    bearer,
    image_bytes,
    login,
    register,
    signed_in,
    upload,
)

# -- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", PROFILE),
        ("PUT", PROFILE),
        ("POST", CHANGE_PASSWORD),
        ("POST", UPLOAD),
        ("DELETE", ACCOUNT),
    ],
)
async def test_every_endpoint_needs_a_token(sqlite_client, method, path):
    await register(sqlite_client, "alice")
    for headers in ({}, bearer("not-a-token")):
        response = await sqlite_client.open(path, method=method, headers=headers, json={})
        body = await response.get_json()
        assert response.status_code == 401, (method, path, body)
        assert body["code"] == 401 and "request_id" in body
    user = await User.get(username="alice")
    assert user.status == UserStatus.ACTIVE and user.nickname is None


# -- 6 GET profile --------------------------------------------------------------------------


async def test_get_profile(users_client):
    me = await signed_in(users_client, "alice", nickname="Al")
    response = await users_client.get(PROFILE, headers=me["headers"])
    body = await response.get_json()
    assert response.status_code == 200 and body["code"] == 200
    data = body["data"]
    assert list(data) == [
        "user_id",
        "username",
        "email",
        "nickname",
        "avatar_url",
        "role",
        "status",
        "created_at",
        "updated_at",
    ]
    assert data["user_id"] == me["user_id"]
    assert (data["username"], data["email"], data["nickname"]) == (
        "alice",
        "alice@example.com",
        "Al",
    )
    assert (data["avatar_url"], data["role"], data["status"]) == (None, "user", "active")
    assert data["created_at"].endswith("Z") and data["updated_at"].endswith("Z")
    assert "password" not in str(body)


# -- 7 PUT profile --------------------------------------------------------------------------


async def test_update_profile(users_client, recorder):
    me = await signed_in(users_client, "alice")
    before = (await (await users_client.get(PROFILE, headers=me["headers"])).get_json())["data"]
    response = await users_client.put(
        PROFILE,
        headers=me["headers"],
        json={"nickname": "  Ally ", "email": "Ally@Example.COM"},
    )
    body = await response.get_json()
    assert response.status_code == 200, body
    assert body["data"]["nickname"] == "Ally"
    assert body["data"]["email"] == "ally@example.com"
    assert body["data"]["updated_at"] >= before["updated_at"]
    stored = await User.get(id=me["user_id"])
    assert (stored.nickname, stored.email) == ("Ally", "ally@example.com")
    assert recorder.named("user.updated") == [
        {"user_id": me["user_id"], "changed": ["nickname", "email"]}
    ]
    # The new address logs in; GET answers the same profile.
    response, _ = await login(users_client, "ALLY@example.com")
    assert response.status_code == 200
    again = await users_client.get(PROFILE, headers=me["headers"])
    assert (await again.get_json())["data"] == body["data"]

    # Unchanged values change nothing and publish nothing; null clears the nickname.
    response = await users_client.put(PROFILE, headers=me["headers"], json={"nickname": "Ally"})
    assert response.status_code == 200
    assert len(recorder.named("user.updated")) == 1
    response = await users_client.put(PROFILE, headers=me["headers"], json={"nickname": None})
    assert (await response.get_json())["data"]["nickname"] is None
    assert (await User.get(id=me["user_id"])).nickname is None


async def test_taken_email_is_409_and_changes_nothing(users_client, recorder):
    await register(users_client, "bob")
    me = await signed_in(users_client, "alice")
    response = await users_client.put(
        PROFILE,
        headers=me["headers"],
        json={"nickname": "New", "email": "BOB@example.com", "avatar_url": "https://x.io/a.png"},
    )
    body = await response.get_json()
    assert response.status_code == 409 and body["code"] == 1002
    user = await User.get(id=me["user_id"])
    assert (user.nickname, user.email, user.avatar_url) == (None, "alice@example.com", None)
    assert recorder.named("user.updated") == []


async def test_avatar_url_takes_http_urls_and_null(sqlite_client):
    me = await signed_in(sqlite_client, "alice")
    url = "https://cdn.example.com/people/alice.png?v=2"
    response = await sqlite_client.put(PROFILE, headers=me["headers"], json={"avatar_url": url})
    assert (await response.get_json())["data"]["avatar_url"] == url
    assert (await User.get(id=me["user_id"])).avatar_url == url
    response = await sqlite_client.put(PROFILE, headers=me["headers"], json={"avatar_url": None})
    assert (await response.get_json())["data"]["avatar_url"] is None
    assert (await User.get(id=me["user_id"])).avatar_url is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"nickname": ""}, "nickname"),
        ({"nickname": "   "}, "nickname"),
        ({"nickname": "n" * 51}, "nickname"),
        ({"nickname": 5}, "nickname"),
        ({"email": "not-an-email"}, "email"),
        ({"email": None}, "email"),
        ({"email": "a" * 250 + "@x.io"}, "email"),
        ({"avatar_url": "ftp://example.com/a.png"}, "avatar_url"),
        ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
        ({"avatar_url": "/api/v1/users/avatars/x.png"}, "avatar_url"),
        ({"avatar_url": "https://example.com/" + "a" * 490}, "avatar_url"),
        ({"avatar_url": 7}, "avatar_url"),
        ({"nickname": "ok", "role": "admin"}, "role"),
        ({"nickname": "ok", "username": "root"}, "username"),
    ],
)
async def test_update_profile_validation(sqlite_client, recorder, payload, field):
    me = await signed_in(sqlite_client, "alice", nickname="Al")
    response = await sqlite_client.put(PROFILE, headers=me["headers"], json=payload)
    body = await response.get_json()
    assert response.status_code == 422, body
    assert body["message"].startswith(f"{field}:"), body["message"]
    user = await User.get(id=me["user_id"])
    assert (user.username, user.nickname, user.email, user.role, user.avatar_url) == (
        "alice",
        "Al",
        "alice@example.com",
        Role.USER,
        None,
    )
    assert recorder.named("user.updated") == []


async def test_update_profile_needs_a_json_object(sqlite_client):
    me = await signed_in(sqlite_client, "alice")
    response = await sqlite_client.put(PROFILE, headers=me["headers"], json=["nickname"])
    assert response.status_code == 422
    assert (await response.get_json())["message"] == "request body must be a JSON object"


# -- 8 change password ----------------------------------------------------------------------


async def test_change_password_keeps_this_login_and_ends_the_others(users_client, recorder):
    me = await signed_in(users_client, "alice")
    _, other = await login(users_client, "alice")  # a second device
    response = await users_client.post(
        CHANGE_PASSWORD,
        headers=me["headers"],
        json={"old_password": PASSWORD, "new_password": "brand-new-pass"},
    )
    assert response.status_code == 200, await response.get_json()
    assert recorder.named("user.password_changed") == [{"user_id": me["user_id"]}]

    # This login goes on: its access token works and its refresh token renews.
    assert (await users_client.get(PROFILE, headers=me["headers"])).status_code == 200
    renewed = await users_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": me["refresh_token"]}
    )
    assert renewed.status_code == 200
    # The other login cannot renew any more.
    dead = await users_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert dead.status_code == 401

    response, _ = await login(users_client, "alice")
    assert response.status_code == 401
    response, _ = await login(users_client, "alice", "brand-new-pass")
    assert response.status_code == 200


async def test_change_password_with_a_wrong_old_password(users_client, recorder):
    me = await signed_in(users_client, "alice")
    _, other = await login(users_client, "alice")
    hash_before = (await User.get(id=me["user_id"])).password_hash
    response = await users_client.post(
        CHANGE_PASSWORD,
        headers=me["headers"],
        json={"old_password": "not-my-password", "new_password": "brand-new-pass"},
    )
    body = await response.get_json()
    assert response.status_code == 400 and body["code"] == 1004
    assert body["message"].startswith("old_password:")
    assert (await User.get(id=me["user_id"])).password_hash == hash_before
    still = await users_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert still.status_code == 200  # nothing was revoked
    assert recorder.named("user.password_changed") == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"old_password": PASSWORD, "new_password": "12345"}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "x" * 101}, "new_password"),
        ({"old_password": PASSWORD, "new_password": 123456}, "new_password"),
        ({"new_password": "brand-new-pass"}, "old_password"),
        ({"old_password": "", "new_password": "brand-new-pass"}, "old_password"),
        ({"old_password": PASSWORD}, "new_password"),
        ({"old_password": PASSWORD, "new_password": "brand-new", "logout": True}, "logout"),
    ],
)
async def test_change_password_validation(sqlite_client, payload, field):
    me = await signed_in(sqlite_client, "alice")
    hash_before = (await User.get(id=me["user_id"])).password_hash
    response = await sqlite_client.post(CHANGE_PASSWORD, headers=me["headers"], json=payload)
    body = await response.get_json()
    assert response.status_code == 422
    assert body["message"].startswith(f"{field}:"), body["message"]
    assert (await User.get(id=me["user_id"])).password_hash == hash_before


# -- 10 delete account ----------------------------------------------------------------------


async def test_delete_account(users_client, recorder, avatars):
    me = await signed_in(users_client, "alice", nickname="Al")
    _, other = await login(users_client, "alice")
    uploaded = await users_client.post(
        UPLOAD, headers=me["headers"], files=upload(image_bytes((64, 64)))
    )
    assert uploaded.status_code == 200
    assert len(list(avatars.iterdir())) == 1

    response = await users_client.delete(ACCOUNT, headers=me["headers"])
    body = await response.get_json()
    assert response.status_code == 200, body
    assert body["data"] == {"user_id": me["user_id"], "status": "deleted"}
    assert recorder.named("user.deleted") == [{"user_id": me["user_id"], "actor_id": None}]

    user = await User.get(id=me["user_id"])
    assert user.status == UserStatus.DELETED
    assert user.username == f"deleted-{me['user_id']}"
    assert user.email == f"deleted-{me['user_id']}@deleted.invalid"
    assert (user.nickname, user.avatar_url) == (None, None)
    assert list(avatars.iterdir()) == []

    # Every token is dead at once, and the login is gone.
    for headers in (me["headers"], bearer(other["token"])):
        assert (await users_client.get(PROFILE, headers=headers)).status_code == 401
    for refresh in (me["refresh_token"], other["refresh_token"]):
        response = await users_client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
        assert response.status_code == 401
    response, _ = await login(users_client, "alice")
    assert response.status_code == 401
    assert (await users_client.delete(ACCOUNT, headers=me["headers"])).status_code == 401

    # The name and the address are free again: a new, different account.
    new_id = await register(users_client, "alice")
    assert new_id != me["user_id"]
    response, data = await login(users_client, "alice")
    assert response.status_code == 200 and data["user"]["user_id"] == new_id


async def test_deleted_name_already_registered_gets_a_suffix(sqlite_client):
    me = await signed_in(sqlite_client, "alice")
    squatter = await register(sqlite_client, f"deleted-{me['user_id']}")
    response = await sqlite_client.delete(ACCOUNT, headers=me["headers"])
    assert response.status_code == 200
    user = await User.get(id=me["user_id"])
    assert user.username.startswith(f"deleted-{me['user_id']}-")
    assert user.email == f"{user.username}@deleted.invalid"
    assert (await User.get(id=squatter)).username == f"deleted-{me['user_id']}"


async def test_the_last_active_admin_cannot_delete_their_account(sqlite_client, recorder):
    auth = sqlite_client.app.extensions["platform"].auth
    await auth.create_user("root", "root@example.com", PASSWORD, role=Role.ADMIN)
    _, root = await login(sqlite_client, "root")
    response = await sqlite_client.delete(ACCOUNT, headers=bearer(root["token"]))
    body = await response.get_json()
    assert response.status_code == 409 and "last active admin" in body["message"]
    assert (await User.get(username="root")).status == UserStatus.ACTIVE
    assert recorder.named("user.deleted") == []

    # With another active admin it is allowed.
    await auth.create_user("second", "second@example.com", PASSWORD, role=Role.ADMIN)
    response = await sqlite_client.delete(ACCOUNT, headers=bearer(root["token"]))
    assert response.status_code == 200
    assert (await User.get(id=root["user"]["user_id"])).status == UserStatus.DELETED


# -- rate limits ----------------------------------------------------------------------------


async def test_rate_limit_classes(make_client):
    async with make_client(**USERS) as client:
        views = client.app.view_functions
        classes = {
            name.split(".", 1)[1]: getattr(view, "rate_limit_class", None)
            for name, view in views.items()
            if name.startswith("users.")
        }
    assert classes == {
        "get_profile": "high",
        "update_profile": "general",
        "change_password": "password_change",
        "upload_avatar": "upload",
        "delete_account": "general",
        "avatar": "high",  # public: per client IP
    }


async def test_upload_limit_answers_429(make_client):
    async with make_client(**USERS, rate_limits={"upload": "2/minute"}) as client:
        me = await signed_in(client, "alice")
        picture = image_bytes((16, 16))
        statuses = [
            (await client.post(UPLOAD, headers=me["headers"], files=upload(picture))).status_code
            for _ in range(3)
        ]
        assert statuses == [200, 200, 429]


async def test_delete_account_works_without_http(sqlite_client, recorder):
    """The admin plugin (and scripts) call the service with the platform or its AuthService."""
    user_id = await register(sqlite_client, "alice")
    auth = sqlite_client.app.extensions["platform"].auth
    user = await User.get(id=user_id)
    deleted = await service.delete_account(auth, user, actor_id=42)  # no app context
    assert deleted.status == UserStatus.DELETED
    assert (await User.get(id=user_id)).username == f"deleted-{user_id}"
    assert recorder.named("user.deleted") == [{"user_id": user_id, "actor_id": 42}]
    with pytest.raises(ApiError) as caught:
        await service.delete_account(auth, user)
    assert caught.value.status == 409
