"""Every auth flow, success and failure, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from kernel.api import hookimpl
from kernel.auth.models import PasswordResetToken, Role, User, UserStatus

PASSWORD = "s3cret-pass"


class Outbox:
    """Captures mail at the send_mail hook: the real SMTP server is an external edge."""

    plugin_name = "outbox"

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []

    @hookimpl(tryfirst=True)
    def send_mail(self, to, subject, body):
        self.sent.append({"to": to, "subject": subject, "body": body})
        return True

    def last_token(self) -> str:
        return re.search(r"^([A-Za-z0-9_-]{40,})$", self.sent[-1]["body"], re.M).group(1)


@pytest.fixture
def outbox() -> Outbox:
    return Outbox()


@pytest.fixture
async def auth_client(make_client, db_overrides, outbox):
    # Limits have their own tests; here they would only get in the way of many logins.
    async with make_client(
        extra_plugins=[outbox], ratelimit={"enabled": False}, **db_overrides
    ) as c:
        yield c


async def register(client, username="alice", email=None, password=PASSWORD, **extra):
    payload = {
        "username": username,
        "email": email or f"{username}@example.com",
        "password": password,
        **extra,
    }
    return await client.post("/api/v1/auth/register", json=payload)


async def login(client, username="alice", password=PASSWORD):
    response = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": password}
    )
    return response, await response.get_json()


async def logged_in(client, username="alice"):
    await register(client, username)
    _, body = await login(client, username)
    return body["data"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def whoami(client, token: str):
    """An authenticated call: the admin plugin list answers 403 to a valid non-admin token."""
    return await client.get("/-/plugins", headers=bearer(token))


# -- register ---------------------------------------------------------------------------


async def test_register_and_duplicates(auth_client):
    response = await register(auth_client, nickname="Al")
    body = await response.get_json()
    assert response.status_code == 201 and body["code"] == 201
    assert body["data"]["username"] == "alice"
    assert body["data"]["nickname"] == "Al"
    assert body["data"]["created_at"].endswith("Z")
    assert "password" not in str(body)

    dup_name = await register(auth_client, "ALICE", email="other@example.com")
    assert dup_name.status_code == 409
    assert (await dup_name.get_json())["code"] == 1001
    dup_mail = await register(auth_client, "bob", email="Alice@Example.com")
    assert dup_mail.status_code == 409
    assert (await dup_mail.get_json())["code"] == 1002
    assert await User.all().count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "al", "email": "a@b.io", "password": PASSWORD}, "username"),
        ({"username": "al ice", "email": "a@b.io", "password": PASSWORD}, "username"),
        ({"username": "alice", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"username": "alice", "email": "a@b.io", "password": "12345"}, "password"),
        ({"username": "alice", "email": "a@b.io", "password": "x" * 101}, "password"),
        (
            {"username": "alice", "email": "a@b.io", "password": PASSWORD, "nickname": "n" * 51},
            "nickname",
        ),
        ({"username": "alice", "email": "a@b.io", "password": PASSWORD, "role": "admin"}, "role"),
        ({"username": 5, "email": "a@b.io", "password": PASSWORD}, "username"),
    ],
)
async def test_register_validation(auth_client, payload, field):
    response = await auth_client.post("/api/v1/auth/register", json=payload)
    body = await response.get_json()
    assert response.status_code == 422
    assert body["message"].startswith(f"{field}:")
    assert await User.all().count() == 0


async def test_concurrent_registrations_of_one_name_create_one_user(auth_client):
    responses = await asyncio.gather(
        *(register(auth_client, "racer", email=f"r{i}@example.com") for i in range(5))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409, 409]
    assert await User.filter(username="racer").count() == 1


async def test_registration_can_be_closed(make_client):
    async with make_client(auth={"allow_registration": False}) as client:
        response = await register(client)
    assert response.status_code == 403


# -- login and tokens -------------------------------------------------------------------


async def test_login_by_username_or_email(auth_client):
    await register(auth_client)
    for identifier in ("alice", "alice@example.com", "ALICE@example.com"):
        response, body = await login(auth_client, identifier)
        assert response.status_code == 200, body
        data = body["data"]
        assert data["expires_in"] == 86400
        assert data["user"] == {
            "user_id": data["user"]["user_id"],
            "username": "alice",
            "email": "alice@example.com",
            "nickname": None,
        }
        claims = jwt.decode(data["token"], options={"verify_signature": False})
        assert {"sub", "role", "exp", "iat", "jti"} <= set(claims)
        assert claims["role"] == "user" and claims["sub"] == str(data["user"]["user_id"])
    assert (await User.get(username="alice")).last_login is not None


async def test_login_failures(auth_client):
    await register(auth_client)
    for username, password in (("alice", "wrong-pass"), ("nobody", PASSWORD)):
        response, body = await login(auth_client, username, password)
        assert response.status_code == 401
        assert body["code"] == 1004
    # Same message whether the user exists or not: no account enumeration.
    _, a = await login(auth_client, "alice", "wrong-pass")
    _, b = await login(auth_client, "nobody", "wrong-pass")
    assert a["message"] == b["message"]


async def test_protected_route_needs_a_valid_token(auth_client):
    data = await logged_in(auth_client)
    assert (await auth_client.get("/-/plugins")).status_code == 401
    assert (await whoami(auth_client, data["token"])).status_code == 403  # valid, not admin
    header, payload, signature = data["token"].split(".")
    tampered_payload = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB")
    for token in (
        f"{header}.{tampered_payload}.{signature}",
        data["token"][:-3] + "abc",
        "garbage",
        data["refresh_token"],
    ):
        response = await whoami(auth_client, token)
        assert response.status_code == 401, token
        assert (await response.get_json())["code"] == 401


async def test_alg_none_and_foreign_keys_are_rejected(auth_client):
    data = await logged_in(auth_client)
    claims = jwt.decode(data["token"], options={"verify_signature": False})
    claims["role"] = "admin"
    unsigned = jwt.encode(claims, None, algorithm="none")
    foreign = jwt.encode(claims, "another-secret-that-is-long-enough-32b", algorithm="HS256")
    for token in (unsigned, foreign):
        response = await whoami(auth_client, token)
        assert response.status_code == 401


async def test_expired_token_gives_1005(make_client, db_overrides):
    async with make_client(auth={"access_token_ttl": 1}, **db_overrides) as client:
        data = await logged_in(client)
        await asyncio.sleep(1.1)  # the token's exp is one second after its iat
        response = await whoami(client, data["token"])
    assert response.status_code == 401
    assert (await response.get_json())["code"] == 1005


async def save_user(username: str, **fields) -> None:
    """Change a user the way plugins do (a model save, which reaches every node's cache)."""
    user = await User.get(username=username)
    for name, value in fields.items():
        setattr(user, name, value)
    await user.save()


async def test_admin_role(auth_client):
    data = await logged_in(auth_client)
    assert (await whoami(auth_client, data["token"])).status_code == 403  # now cached
    await save_user("alice", role=Role.ADMIN)
    # The role is the stored one, not the token's claim: a promotion counts at once.
    response = await whoami(auth_client, data["token"])
    assert response.status_code == 200
    plugins = (await response.get_json())["data"]["plugins"]
    assert [p["name"] for p in plugins if p["loaded"]] == ["kernel", "outbox"]


async def test_refresh_rotates_and_reuse_revokes_the_family(auth_client):
    data = await logged_in(auth_client)
    first = data["refresh_token"]
    response = await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    rotated = (await response.get_json())["data"]
    assert response.status_code == 200
    assert rotated["refresh_token"] != first and rotated["token"] != data["token"]
    assert (await whoami(auth_client, rotated["token"])).status_code == 403  # works, not admin

    # The old token comes back (stolen?): refused, and the whole family dies with it.
    reuse = await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert reuse.status_code == 401
    again = await auth_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert again.status_code == 401
    # A separate login (another device) is another family and keeps working.
    _, other = await login(auth_client)
    ok = await auth_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": other["data"]["refresh_token"]}
    )
    assert ok.status_code == 200


async def test_concurrent_refresh_with_one_token_wins_once(auth_client):
    data = await logged_in(auth_client)
    responses = await asyncio.gather(
        *(
            auth_client.post("/api/v1/auth/refresh", json={"refresh_token": data["refresh_token"]})
            for _ in range(4)
        )
    )
    assert sum(r.status_code == 200 for r in responses) <= 1
    assert all(r.status_code in (200, 401) for r in responses)


async def test_refresh_with_unknown_token(auth_client):
    response = await auth_client.post("/api/v1/auth/refresh", json={"refresh_token": "nope"})
    assert response.status_code == 401


async def test_logout_ends_the_login(auth_client):
    data = await logged_in(auth_client)
    response = await auth_client.post("/api/v1/auth/logout", headers=bearer(data["token"]))
    assert response.status_code == 200
    assert (await whoami(auth_client, data["token"])).status_code == 401
    refresh = await auth_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": data["refresh_token"]}
    )
    assert refresh.status_code == 401
    assert (await auth_client.post("/api/v1/auth/logout")).status_code == 401


async def test_logout_body_is_validated(auth_client):
    data = await logged_in(auth_client)
    response = await auth_client.post(
        "/api/v1/auth/logout", headers=bearer(data["token"]), json={"refresh_token": 5}
    )
    assert response.status_code == 422
    response = await auth_client.post(
        "/api/v1/auth/logout",
        headers=bearer(data["token"]) | {"Content-Type": "application/json"},
        data="{oops",
    )
    assert response.status_code == 400


# -- banned and deleted users -------------------------------------------------------------


async def test_banned_user_is_locked_out_at_once(auth_client):
    data = await logged_in(auth_client)
    assert (await whoami(auth_client, data["token"])).status_code == 403  # now cached
    await save_user("alice", status=UserStatus.BANNED, ban_reason="spam")
    response = await whoami(auth_client, data["token"])
    assert response.status_code == 403
    assert "spam" in (await response.get_json())["message"]
    response, _ = await login(auth_client)
    assert response.status_code == 403
    refresh = await auth_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": data["refresh_token"]}
    )
    assert refresh.status_code == 403


async def test_timed_ban_lifts_itself(auth_client):
    await register(auth_client)
    await User.filter(username="alice").update(
        status=UserStatus.BANNED, banned_until=datetime.now(UTC) - timedelta(seconds=1)
    )
    response, _ = await login(auth_client)
    assert response.status_code == 200
    assert (await User.get(username="alice")).status == UserStatus.ACTIVE


async def test_deleted_user_tokens_stop_working(auth_client):
    data = await logged_in(auth_client)
    assert (await whoami(auth_client, data["token"])).status_code == 403  # now cached
    await save_user("alice", status=UserStatus.DELETED)
    assert (await whoami(auth_client, data["token"])).status_code == 401
    response, _ = await login(auth_client)
    assert response.status_code == 401


# -- forgot and reset password ------------------------------------------------------------


async def test_forgot_and_reset_password(auth_client, outbox):
    data = await logged_in(auth_client)
    known = await auth_client.post(
        "/api/v1/auth/forgot-password", json={"email": "alice@example.com"}
    )
    unknown = await auth_client.post(
        "/api/v1/auth/forgot-password", json={"email": "ghost@example.com"}
    )
    assert known.status_code == unknown.status_code == 200
    assert (await known.get_json())["message"] == (await unknown.get_json())["message"]
    assert len(outbox.sent) == 1 and outbox.sent[0]["to"] == "alice@example.com"
    token = outbox.last_token()
    stored = await PasswordResetToken.get(user__username="alice")
    assert token not in stored.token_hash  # only the hash is stored

    reset = await auth_client.post(
        "/api/v1/auth/reset-password", json={"token": token, "new_password": "brand-new-1"}
    )
    assert reset.status_code == 200
    assert (await login(auth_client, "alice", PASSWORD))[0].status_code == 401
    assert (await login(auth_client, "alice", "brand-new-1"))[0].status_code == 200
    # Every earlier session ends with a reset.
    assert (await whoami(auth_client, data["token"])).status_code == 401
    refresh = await auth_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": data["refresh_token"]}
    )
    assert refresh.status_code == 401
    # Single use.
    again = await auth_client.post(
        "/api/v1/auth/reset-password", json={"token": token, "new_password": "another-1"}
    )
    assert again.status_code == 400
    assert (await again.get_json())["code"] == 1005


async def test_reset_token_expires_and_only_newest_works(auth_client, outbox):
    await register(auth_client)
    for _ in range(2):
        await auth_client.post("/api/v1/auth/forgot-password", json={"email": "alice@example.com"})
    older = re.search(r"^([A-Za-z0-9_-]{40,})$", outbox.sent[0]["body"], re.M).group(1)
    newest = outbox.last_token()
    response = await auth_client.post(
        "/api/v1/auth/reset-password", json={"token": older, "new_password": "brand-new-1"}
    )
    assert response.status_code == 400
    await PasswordResetToken.filter(used_at=None).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    response = await auth_client.post(
        "/api/v1/auth/reset-password", json={"token": newest, "new_password": "brand-new-1"}
    )
    assert response.status_code == 400
    assert (await login(auth_client))[0].status_code == 200


async def test_default_mail_sink_writes_to_the_log(make_client, caplog):
    async with make_client(ratelimit={"enabled": False}) as client:
        await register(client)
        with caplog.at_level("INFO", logger="platform.mail"):
            await client.post("/api/v1/auth/forgot-password", json={"email": "alice@example.com"})
    assert "alice@example.com" in caplog.text and "Reset your password" in caplog.text


async def test_change_password_keeps_this_session_and_ends_others(auth_client):
    """The service behind the users plugin's change-password endpoint."""
    await register(auth_client)
    _, first = await login(auth_client)
    _, second = await login(auth_client)
    platform = auth_client.app.extensions["platform"]
    claims = platform.tokens.decode_access(second["data"]["token"])
    user = await User.get(username="alice")
    await platform.auth.change_password(user, PASSWORD, "changed-pw-1", claims.session)
    keep = await auth_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["data"]["refresh_token"]}
    )
    other = await auth_client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["data"]["refresh_token"]}
    )
    assert keep.status_code == 200
    assert other.status_code == 401
    assert (await login(auth_client, "alice", "changed-pw-1"))[0].status_code == 200


async def test_bulk_updates_are_seen_after_the_cache_ttl(make_client):
    async with make_client(auth={"user_cache_ttl": 0.3}) as client:
        data = await logged_in(client)
        assert (await whoami(client, data["token"])).status_code == 403  # cached
        await User.filter(username="alice").update(status=UserStatus.BANNED)
        # A queryset update sends no signal: the cached entry serves until it expires...
        stale = await whoami(client, data["token"])
        assert "needs role admin" in (await stale.get_json())["message"]
        await asyncio.sleep(0.35)
        banned = await whoami(client, data["token"])
        # ...unless the writer says so, which bulk writers must do.
        await User.filter(username="alice").update(status=UserStatus.DELETED)
        await client.app.extensions["platform"].auth.user_changed(data["user"]["user_id"])
        deleted = await whoami(client, data["token"])
    assert "banned" in (await banned.get_json())["message"]
    assert deleted.status_code == 401


async def test_a_logout_is_known_after_a_restart(make_client):
    async with make_client() as client:
        data = await logged_in(client)
        await client.post("/api/v1/auth/logout", headers=bearer(data["token"]))
    async with make_client() as client:  # same data dir: a restarted server
        assert (await whoami(client, data["token"])).status_code == 401
