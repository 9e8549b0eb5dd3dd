"""Admin users (11-16): access, listing, changes, deletion, bans, protections, audit trail."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from kernel.api import ApiError, Role, User, UserStatus
from kernel.plugins import PluginError
from plugins.admin import service
from plugins.users import service as users_service

from .conftest import USERS, login, status_of


def refused(status: int) -> bool:
    """A token that must not work any more: revoked (401) or its account banned (403)."""
    return status in (401, 403)


async def body_of(response) -> dict:
    return await response.get_json()


# -- access ---------------------------------------------------------------------------------


async def test_every_endpoint_needs_an_admin(sqlite_client, sqlite_accounts, recorder):
    target = await sqlite_accounts.quick("target")
    user = await sqlite_accounts.login_as("mallory")
    endpoints = [
        ("GET", USERS, None),
        ("GET", f"{USERS}/{target.id}", None),
        ("PUT", f"{USERS}/{target.id}", {"nickname": "pwned"}),
        ("DELETE", f"{USERS}/{target.id}", None),
        ("POST", f"{USERS}/{target.id}/ban", {"reason": "x"}),
        ("POST", f"{USERS}/{target.id}/unban", None),
    ]
    for method, path, payload in endpoints:
        kwargs = {"json": payload} if payload is not None else {}
        anonymous = await sqlite_client.open(path, method=method, **kwargs)
        assert anonymous.status_code == 401, (method, path)
        assert (await body_of(anonymous))["code"] == 401
        forbidden = await sqlite_client.open(path, method=method, headers=user["headers"], **kwargs)
        assert forbidden.status_code == 403, (method, path)
        assert "admin" in (await body_of(forbidden))["message"]
    target = await User.get(id=target.id)
    assert (target.status, target.nickname) == (UserStatus.ACTIVE, None)
    assert [e.name for e in recorder.events if e.name.startswith("admin.")] == []


async def test_admin_requires_the_users_plugin(make_client):
    with pytest.raises(PluginError, match="'admin' requires plugin 'users'"):
        async with make_client(plugins={"enabled": ["admin"]}):
            pass


async def test_rate_limit_classes(sqlite_client):
    classes = {
        name.split(".", 1)[1]: getattr(view, "rate_limit_class", None)
        for name, view in sqlite_client.app.view_functions.items()
        if name.startswith("admin.")
    }
    assert classes == {
        "list_users": "high",
        "get_user": "high",
        "update_user": "general",
        "delete_user": "general",
        "ban_user": "general",
        "unban_user": "general",
    }


# -- 11 list --------------------------------------------------------------------------------


async def test_list_filters_and_pages(admin_client, accounts):
    root = await accounts.login_as("root", Role.ADMIN)
    for i in range(12):
        await accounts.quick(f"user{i:02d}")
    alice = await accounts.quick("alice", nickname="Wonder")
    bob = await accounts.quick("bob", email="bobby@mail.test", nickname="Builder")
    carol = await accounts.quick("carol_x", status=UserStatus.BANNED, ban_reason="spam")
    dave = await accounts.quick("dave", status=UserStatus.DELETED, nickname="100% sure")
    ids = sorted(u.id for u in await User.all())
    assert len(ids) == 17

    async def listing(query: str = "") -> dict:
        response = await admin_client.get(f"{USERS}{query}", headers=root["headers"])
        assert response.status_code == 200, await response.get_json()
        return (await response.get_json())["data"]

    def user_ids(data: dict) -> list[int]:
        return [u["user_id"] for u in data["users"]]

    data = await listing()
    assert (data["total"], data["page"], data["page_size"]) == (17, 1, 20)
    assert user_ids(data) == ids
    first = data["users"][0]
    assert first["username"] == "root" and first["role"] == "admin"
    assert first["last_login"].endswith("Z")
    assert {"ban_reason", "banned_until", "avatar_url", "created_at"} <= set(first)

    assert user_ids(await listing("?page=2&page_size=5")) == ids[5:10]
    assert user_ids(await listing("?page=4&page_size=5")) == ids[15:]
    beyond = await listing("?page=9&page_size=5")
    assert (beyond["users"], beyond["total"]) == ([], 17)

    assert user_ids(await listing("?keyword=WONDER")) == [alice.id]  # nickname
    assert user_ids(await listing("?keyword=MAIL.TEST")) == [bob.id]  # email
    assert user_ids(await listing("?keyword=Ali")) == [alice.id]  # username
    assert user_ids(await listing("?keyword=%25")) == [dave.id]  # a literal %
    assert user_ids(await listing("?keyword=_")) == [carol.id]  # a literal _
    assert user_ids(await listing("?keyword=nobody-at-all")) == []

    assert user_ids(await listing("?status=banned")) == [carol.id]
    assert user_ids(await listing("?status=deleted")) == [dave.id]
    active = await listing("?status=active&keyword=user&page_size=5")
    assert active["total"] == 12 and len(active["users"]) == 5


async def test_list_validation(sqlite_client, sqlite_accounts):
    root = await sqlite_accounts.login_as("root", Role.ADMIN)
    cases = [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("status=gone", "status"),
        ("status=ACTIVE", "status"),
        ("keyword=" + "x" * 101, "keyword"),
    ]
    for query, field in cases:
        response = await sqlite_client.get(f"{USERS}?{query}", headers=root["headers"])
        body = await response.get_json()
        assert response.status_code == 422, (query, body)
        assert body["message"].startswith(f"{field}:"), (query, body["message"])


# -- 12 get ---------------------------------------------------------------------------------


async def test_get_user(admin_client, accounts):
    root = await accounts.login_as("root", Role.ADMIN)
    target = await accounts.login_as("target", nickname="Tee")
    response = await admin_client.get(f"{USERS}/{target['user_id']}", headers=root["headers"])
    data = (await body_of(response))["data"]
    assert response.status_code == 200
    assert data["user_id"] == target["user_id"]
    assert (data["username"], data["nickname"], data["status"]) == ("target", "Tee", "active")
    assert data["last_login"].endswith("Z")
    assert (data["ban_reason"], data["banned_until"]) == (None, None)

    for unknown in (999_999, 2**40):
        response = await admin_client.get(f"{USERS}/{unknown}", headers=root["headers"])
        body = await body_of(response)
        assert response.status_code == 404 and body["code"] == 1003, unknown
    response = await admin_client.get(f"{USERS}/abc", headers=root["headers"])
    assert response.status_code == 404


# -- 13 update ------------------------------------------------------------------------------


async def test_update_user(admin_client, accounts, recorder, caplog):
    root = await accounts.login_as("root", Role.ADMIN)
    target = await accounts.login_as("target")
    assert (await admin_client.get(USERS, headers=target["headers"])).status_code == 403
    caplog.set_level(logging.INFO, logger="platform.audit")

    response = await admin_client.put(
        f"{USERS}/{target['user_id']}",
        headers=root["headers"],
        json={"nickname": "Tee", "email": "New@Mail.TEST", "role": "admin"},
    )
    data = (await body_of(response))["data"]
    assert response.status_code == 200
    assert (data["nickname"], data["email"], data["role"]) == ("Tee", "new@mail.test", "admin")
    stored = await User.get(id=target["user_id"])
    assert (stored.nickname, stored.email, stored.role) == ("Tee", "new@mail.test", Role.ADMIN)
    # The promotion counts at once, with the token the user already has.
    assert (await admin_client.get(USERS, headers=target["headers"])).status_code == 200

    [event] = recorder.named("admin.user_updated")
    assert event["actor_id"] == root["user_id"] and event["user_id"] == target["user_id"]
    assert event["changes"] == {
        "nickname": {"from": None, "to": "Tee"},
        "email": {"from": "target@example.com", "to": "new@mail.test"},
        "role": {"from": "user", "to": "admin"},
    }
    [line] = [r.getMessage() for r in caplog.records if r.name == "platform.audit"]
    assert f"admin {root['user_id']} updated user target" in line and "role" in line

    # The same values again change nothing and publish nothing.
    response = await admin_client.put(
        f"{USERS}/{target['user_id']}", headers=root["headers"], json={"nickname": "Tee"}
    )
    assert response.status_code == 200
    assert len(recorder.named("admin.user_updated")) == 1


async def test_rejected_updates_change_nothing(sqlite_client, sqlite_accounts, recorder):
    root = await sqlite_accounts.login_as("root", Role.ADMIN)
    await sqlite_accounts.quick("other")
    target = await sqlite_accounts.quick("target", nickname="Tee")
    path = f"{USERS}/{target.id}"

    response = await sqlite_client.put(
        path, headers=root["headers"], json={"nickname": "New", "email": "OTHER@example.com"}
    )
    body = await body_of(response)
    assert response.status_code == 409 and body["code"] == 1002

    cases = [
        ({}, "body"),
        ({"status": "gone"}, "status"),
        ({"status": None}, "status"),
        ({"role": "root"}, "role"),
        ({"role": 1}, "role"),
        ({"email": None}, "email"),
        ({"email": "nope"}, "email"),
        ({"nickname": "n" * 51}, "nickname"),
        ({"nickname": "ok", "password": "x"}, "password"),
        ({"status": "deleted", "nickname": "x"}, "status"),
    ]
    for payload, field in cases:
        response = await sqlite_client.put(path, headers=root["headers"], json=payload)
        body = await body_of(response)
        assert response.status_code == 422, (payload, body)
        assert body["message"].startswith(f"{field}:"), (payload, body["message"])

    stored = await User.get(id=target.id)
    assert (stored.nickname, stored.email, stored.status, stored.role) == (
        "Tee",
        "target@example.com",
        UserStatus.ACTIVE,
        Role.USER,
    )
    response = await sqlite_client.put(
        f"{USERS}/999999", headers=root["headers"], json={"nickname": "x"}
    )
    assert response.status_code == 404 and (await body_of(response))["code"] == 1003
    assert recorder.named("admin.user_updated") == []


async def test_status_changes_through_update(admin_client, accounts, recorder):
    root = await accounts.login_as("root", Role.ADMIN)
    target = await accounts.login_as("target")
    path = f"{USERS}/{target['user_id']}"

    response = await admin_client.put(path, headers=root["headers"], json={"status": "banned"})
    data = (await body_of(response))["data"]
    assert (data["status"], data["banned_until"]) == ("banned", None)  # permanent
    assert refused((await admin_client.get(USERS, headers=target["headers"])).status_code)
    response, _ = await login(admin_client, "target")
    assert response.status_code == 403

    response = await admin_client.put(path, headers=root["headers"], json={"status": "active"})
    assert (await body_of(response))["data"]["status"] == "active"
    response, _ = await login(admin_client, "target")
    assert response.status_code == 200

    response = await admin_client.put(path, headers=root["headers"], json={"status": "deleted"})
    data = (await body_of(response))["data"]
    assert response.status_code == 200
    assert (data["status"], data["username"]) == ("deleted", f"deleted-{target['user_id']}")
    assert recorder.named("user.deleted") == [
        {"user_id": target["user_id"], "actor_id": root["user_id"]}
    ]
    changed = [e["changes"] for e in recorder.named("admin.user_updated")]
    assert changed == [
        {"status": {"from": "active", "to": "banned"}},
        {"status": {"from": "banned", "to": "active"}},
    ]

    response = await admin_client.put(path, headers=root["headers"], json={"nickname": "x"})
    assert response.status_code == 409 and "deleted" in (await body_of(response))["message"]


# -- 14 delete ------------------------------------------------------------------------------


async def test_delete_user(admin_client, accounts, recorder):
    root = await accounts.login_as("root", Role.ADMIN)
    target = await accounts.login_as("target", nickname="Tee")
    path = f"{USERS}/{target['user_id']}"

    response = await admin_client.delete(path, headers=root["headers"])
    data = (await body_of(response))["data"]
    assert response.status_code == 200
    assert (data["status"], data["username"], data["nickname"]) == (
        "deleted",
        f"deleted-{target['user_id']}",
        None,
    )
    assert await status_of(target["user_id"]) == UserStatus.DELETED
    assert (await admin_client.get(USERS, headers=target["headers"])).status_code == 401
    refresh = await admin_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": target["refresh_token"]}
    )
    assert refresh.status_code == 401
    response, _ = await login(admin_client, "target")
    assert response.status_code == 401

    assert recorder.named("user.deleted") == [
        {"user_id": target["user_id"], "actor_id": root["user_id"]}
    ]
    assert recorder.named("admin.user_deleted") == [
        {"actor_id": root["user_id"], "user_id": target["user_id"], "username": "target"}
    ]

    again = await admin_client.delete(path, headers=root["headers"])
    assert again.status_code == 409
    unknown = await admin_client.delete(f"{USERS}/999999", headers=root["headers"])
    assert unknown.status_code == 404 and (await body_of(unknown))["code"] == 1003
    # The username is free again.
    response = await admin_client.post(
        "/api/v1/auth/register",
        json={"username": "target", "email": "target@example.com", "password": "secret123"},
    )
    assert response.status_code == 201


# -- 15/16 ban and unban --------------------------------------------------------------------


async def test_timed_ban_ends_sessions_and_lifts_itself(admin_client, accounts, recorder):
    root = await accounts.login_as("root", Role.ADMIN)
    target = await accounts.login_as("target")
    before = datetime.now(UTC)
    response = await admin_client.post(
        f"{USERS}/{target['user_id']}/ban",
        headers=root["headers"],
        json={"reason": "spamming the chat", "duration": 0.5},
    )
    data = (await body_of(response))["data"]
    assert response.status_code == 200
    assert (data["status"], data["ban_reason"]) == ("banned", "spamming the chat")
    until = datetime.fromisoformat(data["banned_until"].replace("Z", "+00:00"))
    assert timedelta(minutes=29) < until - before < timedelta(minutes=31)
    [event] = recorder.named("admin.user_banned")
    assert event == {
        "actor_id": root["user_id"],
        "user_id": target["user_id"],
        "reason": "spamming the chat",
        "duration": 0.5,
        "banned_until": data["banned_until"],
    }

    # The tokens stop working at once; logging in says why.
    assert refused((await admin_client.get(USERS, headers=target["headers"])).status_code)
    refresh = await admin_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": target["refresh_token"]}
    )
    assert refresh.status_code == 401
    response, _ = await login(admin_client, "target")
    assert response.status_code == 403
    assert "spamming the chat" in (await body_of(response))["message"]

    # Time passes: the ban has ended, the next login lifts it.
    user = await User.get(id=target["user_id"])
    user.banned_until = datetime.now(UTC) - timedelta(minutes=1)
    await user.save()
    response, _ = await login(admin_client, "target")
    assert response.status_code == 200
    assert await status_of(target["user_id"]) == UserStatus.ACTIVE
    assert recorder.named("user.unbanned")[-1]["user_id"] == target["user_id"]


async def test_expired_bans_show_as_lifted_to_admins(sqlite_client, sqlite_accounts, recorder):
    root = await sqlite_accounts.login_as("root", Role.ADMIN)
    past = datetime.now(UTC) - timedelta(hours=1)
    gone = await sqlite_accounts.quick(
        "gone", status=UserStatus.BANNED, ban_reason="x", banned_until=past
    )
    still = await sqlite_accounts.quick(
        "still", status=UserStatus.BANNED, banned_until=past + timedelta(days=1)
    )
    response = await sqlite_client.get(f"{USERS}?status=banned", headers=root["headers"])
    assert [u["user_id"] for u in (await body_of(response))["data"]["users"]] == [still.id]
    response = await sqlite_client.get(f"{USERS}/{gone.id}", headers=root["headers"])
    data = (await body_of(response))["data"]
    assert (data["status"], data["ban_reason"], data["banned_until"]) == ("active", None, None)
    assert recorder.named("user.unbanned") == [{"user_id": gone.id, "reason": "ban expired"}]


async def test_permanent_ban_and_unban(admin_client, accounts, recorder):
    root = await accounts.login_as("root", Role.ADMIN)
    target = await accounts.login_as("target")
    path = f"{USERS}/{target['user_id']}"

    response = await admin_client.post(f"{path}/ban", headers=root["headers"])  # no body
    data = (await body_of(response))["data"]
    assert response.status_code == 200
    assert (data["status"], data["ban_reason"], data["banned_until"]) == ("banned", None, None)
    response, _ = await login(admin_client, "target")
    assert response.status_code == 403

    response = await admin_client.post(f"{path}/unban", headers=root["headers"])
    data = (await body_of(response))["data"]
    assert response.status_code == 200 and data["status"] == "active"
    assert recorder.named("admin.user_unbanned") == [
        {
            "actor_id": root["user_id"],
            "user_id": target["user_id"],
            "ban_reason": None,
            "banned_until": None,
        }
    ]
    response, _ = await login(admin_client, "target")
    assert response.status_code == 200
    # The ban ended the old sessions for good.
    assert (await admin_client.get(USERS, headers=target["headers"])).status_code == 401

    again = await admin_client.post(f"{path}/unban", headers=root["headers"])
    assert again.status_code == 409 and "not banned" in (await body_of(again))["message"]
    for action in ("ban", "unban"):
        response = await admin_client.post(f"{USERS}/999999/{action}", headers=root["headers"])
        assert response.status_code == 404 and (await body_of(response))["code"] == 1003
    await admin_client.delete(path, headers=root["headers"])
    for action in ("ban", "unban"):
        response = await admin_client.post(f"{path}/{action}", headers=root["headers"])
        assert response.status_code == 409, action
    assert await status_of(target["user_id"]) == UserStatus.DELETED


async def test_ban_validation(sqlite_client, sqlite_accounts, recorder):
    root = await sqlite_accounts.login_as("root", Role.ADMIN)
    target = await sqlite_accounts.quick("target")
    path = f"{USERS}/{target.id}/ban"
    cases = [
        ({"duration": 0}, "duration"),
        ({"duration": -1}, "duration"),
        ({"duration": 87601}, "duration"),
        ({"duration": "12"}, "duration"),
        ({"duration": True}, "duration"),
        ({"reason": "r" * 501}, "reason"),
        ({"reason": 5}, "reason"),
        ({"reason": "x", "until": "tomorrow"}, "until"),
    ]
    for payload, field in cases:
        response = await sqlite_client.post(path, headers=root["headers"], json=payload)
        body = await body_of(response)
        assert response.status_code == 422, (payload, body)
        assert body["message"].startswith(f"{field}:"), (payload, body["message"])
    response = await sqlite_client.post(
        path, headers=root["headers"] | {"Content-Type": "application/json"}, data=b"{oops"
    )
    assert response.status_code == 400
    response = await sqlite_client.post(path, headers=root["headers"], json=[1])
    assert response.status_code == 422
    assert await status_of(target.id) == UserStatus.ACTIVE
    assert recorder.named("admin.user_banned") == []

    response = await sqlite_client.post(
        path, headers=root["headers"], json={"reason": "  ", "duration": 87600}
    )
    data = (await body_of(response))["data"]
    assert response.status_code == 200 and data["ban_reason"] is None


async def test_banning_an_admin_ends_their_admin_access(sqlite_client, sqlite_accounts):
    root = await sqlite_accounts.login_as("root", Role.ADMIN)
    other = await sqlite_accounts.login_as("other", Role.ADMIN)
    assert (await sqlite_client.get(USERS, headers=other["headers"])).status_code == 200
    response = await sqlite_client.post(
        f"{USERS}/{other['user_id']}/ban", headers=root["headers"], json={"duration": 1}
    )
    assert response.status_code == 200
    assert refused((await sqlite_client.get(USERS, headers=other["headers"])).status_code)


# -- protections ----------------------------------------------------------------------------


async def test_admins_cannot_ban_delete_or_demote_themselves(
    sqlite_client, sqlite_accounts, recorder
):
    root = await sqlite_accounts.login_as("root", Role.ADMIN)
    await sqlite_accounts.quick("spare", role=Role.ADMIN)  # so it is not about the last admin
    me = f"{USERS}/{root['user_id']}"
    attempts = [
        ("PUT", me, {"role": "user"}, "demote"),
        ("PUT", me, {"status": "banned"}, "ban"),
        ("PUT", me, {"status": "deleted"}, "delete"),
        ("DELETE", me, None, "delete"),
        ("POST", f"{me}/ban", {"duration": 1}, "ban"),
    ]
    for method, path, payload, verb in attempts:
        kwargs = {"json": payload} if payload is not None else {}
        response = await sqlite_client.open(path, method=method, headers=root["headers"], **kwargs)
        body = await body_of(response)
        assert response.status_code == 409, (method, path, body)
        assert f"cannot {verb} yourself" in body["message"]
    stored = await User.get(id=root["user_id"])
    assert (stored.role, stored.status) == (Role.ADMIN, UserStatus.ACTIVE)
    assert [e.name for e in recorder.events if e.name.startswith("admin.")] == []
    # Changing one's own nickname is fine.
    response = await sqlite_client.put(me, headers=root["headers"], json={"nickname": "Boss"})
    assert response.status_code == 200


async def test_the_last_active_admin_is_protected(sqlite_client, sqlite_accounts):
    platform = sqlite_client.app.extensions["platform"]
    root = await sqlite_accounts.quick("root", role=Role.ADMIN)
    # A banned admin does not count as an active one.
    await sqlite_accounts.quick("benched", role=Role.ADMIN, status=UserStatus.BANNED)
    attempts = [
        service.ban_user(platform, None, root.id, "x", 1),
        service.delete_user(platform, None, root.id),
        service.update_user(platform, None, root.id, {"role": Role.USER}),
        service.update_user(platform, None, root.id, {"status": UserStatus.BANNED}),
        service.update_user(platform, None, root.id, {"status": UserStatus.DELETED}),
    ]
    async with sqlite_client.app.app_context():
        for attempt in attempts:
            with pytest.raises(ApiError) as caught:
                await attempt
            assert caught.value.status == 409
            assert "last active admin" in caught.value.message
    stored = await User.get(id=root.id)
    assert (stored.role, stored.status) == (Role.ADMIN, UserStatus.ACTIVE)


async def test_two_admins_demoting_each_other_leave_one(admin_client, accounts):
    platform = admin_client.app.extensions["platform"]
    ann = await accounts.quick("ann", role=Role.ADMIN)
    ben = await accounts.quick("ben", role=Role.ADMIN)
    go = asyncio.Event()

    async def ben_demotes_ann():
        await go.wait()
        return await service.update_user(platform, ben, ann.id, {"role": Role.USER})

    second = asyncio.create_task(ben_demotes_ann())  # made outside the transaction below
    # Ann's demotion of Ben is under way (rows locked) when Ben's demotion of Ann starts.
    async with users_service.locked_user(ben.id, with_admins=True) as (user, admins):
        assert admins == [ann.id, ben.id]
        go.set()
        await asyncio.sleep(0.3)
        assert not second.done()  # waits for the locks
        user.role = Role.USER
        await user.save(update_fields=["role", "updated_at"])
    with pytest.raises(ApiError) as caught:
        await second
    assert caught.value.status == 409 and "last active admin" in caught.value.message
    assert await User.filter(role=Role.ADMIN, status=UserStatus.ACTIVE).count() == 1


async def test_every_action_leaves_an_audit_trail(sqlite_client, sqlite_accounts, recorder, caplog):
    caplog.set_level(logging.INFO, logger="platform.audit")
    root = await sqlite_accounts.login_as("root", Role.ADMIN)
    target = await sqlite_accounts.quick("target")
    path = f"{USERS}/{target.id}"
    calls = [
        ("PUT", path, {"nickname": "Tee"}),
        ("POST", f"{path}/ban", {"reason": "rude", "duration": 2}),
        ("POST", f"{path}/unban", None),
        ("DELETE", path, None),
    ]
    for method, url, payload in calls:
        kwargs = {"json": payload} if payload is not None else {}
        response = await sqlite_client.open(url, method=method, headers=root["headers"], **kwargs)
        assert response.status_code == 200, (method, url, await body_of(response))
    names = [e.name for e in recorder.events if e.name.startswith("admin.")]
    assert names == [
        "admin.user_updated",
        "admin.user_banned",
        "admin.user_unbanned",
        "admin.user_deleted",
    ]
    for event in recorder.events:
        if event.name.startswith("admin."):
            assert (event.data["actor_id"], event.data["user_id"]) == (root["user_id"], target.id)
    lines = [r.getMessage() for r in caplog.records if r.name == "platform.audit"]
    assert len(lines) == 4
    assert all(line.startswith(f"admin {root['user_id']} ") for line in lines)
    assert "nickname None -> 'Tee'" in lines[0]
    assert "banned user target for 2 h" in lines[1] and "rude" in lines[1]
    assert "unbanned user target" in lines[2]
    assert "deleted user target" in lines[3]
