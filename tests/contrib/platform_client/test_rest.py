"""The REST client against a real server: token renewal, typed errors, the convenience calls."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from platform_client import (
    Conflict,
    Forbidden,
    NotFound,
    PlatformClient,
    PlatformError,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from platform_client import errors as codes

from tests.contrib.platform_client.conftest import REST_PLUGINS


async def test_the_access_token_is_renewed_before_expiry_and_after_a_401(
    start_server: Any, connect: Any
) -> None:
    server = start_server(
        PLATFORM_PLUGINS__ENABLED=REST_PLUGINS,
        PLATFORM_RATELIMIT__ENABLED="false",
        PLATFORM_AUTH__ACCESS_TOKEN_TTL="2",
    )
    ada = await connect(server, "ada")
    assert (await ada.users.me())["username"] == "ada"
    first = ada.token

    # Less than half of its life left: renewed before the call, never sent expired.
    await asyncio.sleep(1.2)
    assert (await ada.users.me())["username"] == "ada"
    assert ada.refreshes == 1 and ada.token != first

    # The client believes its token is good (clocks disagree): the server's 401 makes it renew
    # and repeat the call once.
    ada.expires_at = time.time() + 3600
    await asyncio.sleep(2.2)
    stale = ada.token
    raw = await ada.http.get("/api/v1/users/profile", headers={"Authorization": f"Bearer {stale}"})
    assert raw.status_code == 401 and raw.json()["code"] == codes.TOKEN_EXPIRED
    assert (await ada.users.me())["username"] == "ada"
    assert ada.refreshes == 2 and ada.token != stale

    # Calls at once share one refresh: the refresh token rotates, a second refresh with the
    # same one would be refused.
    await asyncio.sleep(2.2)
    ada.expires_at = time.time()
    answers = await asyncio.gather(*(ada.users.me() for _ in range(5)))
    assert {a["username"] for a in answers} == {"ada"}
    assert ada.refreshes == 3

    # Logged out: the client holds no token, and the old ones are revoked on the server (the
    # access token is refused, and renewing it fails too): Unauthorized, not a retry loop.
    tokens = {"token": ada.token, "refresh_token": ada.refresh_token}
    await ada.logout()
    with pytest.raises(PlatformError, match="not logged in"):
        await ada.users.me()
    async with PlatformClient(server.url, **tokens) as revived:
        with pytest.raises(Unauthorized):
            await revived.users.me()


async def test_error_envelopes_become_typed_errors(start_server: Any, connect: Any) -> None:
    server = start_server(PLATFORM_PLUGINS__ENABLED=REST_PLUGINS)
    ada = await connect(server, "ada")
    bob = await connect(server, "bob")

    async with PlatformClient(server.url) as anonymous:
        with pytest.raises(Conflict) as taken:
            await anonymous.register("ada", "other@example.com", "secret-pass")
        assert taken.value.status == 409 and taken.value.code == codes.USERNAME_EXISTS
        assert taken.value.request_id

        with pytest.raises(ValidationError) as invalid:
            await anonymous.register("x", "not-an-email", "secret-pass")
        assert invalid.value.status == 422
        assert {"username", "email"} <= set(invalid.value.fields)

        with pytest.raises(Unauthorized) as wrong:
            await anonymous.login("ada", "wrong-pass")
        assert wrong.value.code == codes.WRONG_PASSWORD

        # Register and login share the "auth" limit (5 a minute per client address), already
        # spent above: within five more tries the server answers 429 with Retry-After.
        with pytest.raises(RateLimited) as limited:
            for _ in range(5):
                with pytest.raises(Unauthorized):
                    await anonymous.login("ada", "wrong-pass")
        assert limited.value.status == 429
        assert limited.value.retry_after is not None and limited.value.retry_after > 0

    with pytest.raises(NotFound) as missing:
        await ada.meetings.get(999999)
    assert missing.value.code == codes.MEETING_NOT_FOUND

    meeting = await ada.meetings.create("ada's meeting")
    with pytest.raises(Forbidden) as refused:
        await bob.meetings.update(meeting["meeting_id"], title="bob's now")
    assert refused.value.status == 403
    # The request id names the failed request, as the X-Request-ID header does.
    assert len(refused.value.request_id) >= 8

    with pytest.raises(ValidationError) as bad_chat:
        await ada.meetings.send_message(meeting["meeting_id"], "")
    assert "content" in bad_chat.value.fields


async def test_meetings_chat_media_and_recordings_through_the_convenience_calls(
    start_server: Any, connect: Any
) -> None:
    server = start_server(
        PLATFORM_PLUGINS__ENABLED=REST_PLUGINS, PLATFORM_RATELIMIT__ENABLED="false"
    )
    ada = await connect(server, "ada")
    bob = await connect(server, "bob")
    meeting = await ada.meetings.create("planning", password="door", max_participants=5)
    meeting_id = meeting["meeting_id"]
    assert meeting["status"] == "scheduled"
    assert (await ada.meetings.get(meeting_id))["title"] == "planning"
    listed = await ada.meetings.list(keyword="plan")
    assert [m["meeting_id"] for m in listed["meetings"]] == [meeting_id]

    with pytest.raises(Forbidden) as wrong:
        await bob.meetings.join(meeting_id, password="window")
    assert wrong.value.code == codes.WRONG_MEETING_PASSWORD
    joined = await bob.meetings.join(meeting_id, password="door")
    assert joined["participant_id"] > 0 and isinstance(joined["ice_servers"], list)
    people = await ada.meetings.participants(meeting_id)
    assert {p["username"] for p in people} == {"ada", "bob"}

    sent = await bob.meetings.send_message(meeting_id, "hello")
    history = await ada.meetings.messages(meeting_id)
    assert [(m["message_id"], m["content"]) for m in history["messages"]] == [
        (sent["message_id"], "hello")
    ]

    text = b"minutes of the meeting\n" * 100
    uploaded = await ada.media.upload(text, filename="minutes.txt", meeting_id=meeting_id)
    assert uploaded["size"] == len(text) and uploaded["mime_type"] == "text/plain"
    assert await ada.media.download(uploaded["file_id"]) == text
    assert (await ada.media.info(uploaded["file_id"]))["file_name"] == "minutes.txt"

    assert await ada.recording.list(meeting_id) == {
        "recordings": [],
        "total": 0,
        "page": 1,
        "page_size": 20,
    }
    await bob.meetings.leave(meeting_id)
    people = await ada.meetings.participants(meeting_id)
    assert {p["username"]: p["status"] for p in people}["bob"] == "offline"
    await ada.meetings.start(meeting_id)
    await ada.meetings.end(meeting_id)
    assert (await ada.meetings.get(meeting_id))["status"] == "ended"
    with pytest.raises(codes.ApiError) as ended:
        await bob.meetings.join(meeting_id, password="door")
    assert ended.value.code == codes.MEETING_ENDED


async def test_a_server_that_is_not_the_platform_still_gives_a_typed_error() -> None:
    # A proxy in front of the platform answering for it, with no envelope.
    async def bad_gateway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 11\r\n"
            b"X-Request-ID: proxy-1\r\nConnection: close\r\n\r\nbad gateway"
        )
        await writer.drain()
        writer.close()

    proxy = await asyncio.start_server(bad_gateway, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    try:
        async with PlatformClient(url) as client:
            with pytest.raises(codes.ServerError) as failed:
                await client.register("ada", "ada@example.com", "secret-pass")
    finally:
        proxy.close()
        await proxy.wait_closed()
    assert failed.value.status == 502 and failed.value.code == 502
    assert failed.value.request_id == "proxy-1"
