"""enable_captions: accepted and returned with a recognizer, refused (422) without one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kernel.auth.models import User

BASE = ["users", "meetings", "signaling", "media", "webrtc", "speech", "captions"]


async def host_headers(client: Any) -> dict[str, str]:
    user = await User.create(username="hana", email="hana@example.com", password_hash="!x")
    platform = client.app.extensions["platform"]
    token, _ = platform.tokens.issue_access(user.id, "user", "test")
    return {"Authorization": f"Bearer {token}"}


def meeting(**settings: Any) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(hours=1)
    return {
        "title": "Standup",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(hours=1)).isoformat(),
        "max_participants": 5,
        "settings": settings,
    }


async def test_with_a_recognizer_captions_can_be_switched_on_and_off(
    make_client, db_overrides
) -> None:
    plugins = {"enabled": [*BASE, "pocketsphinx"]}
    async with make_client(plugins=plugins, **db_overrides) as client:
        headers = await host_headers(client)
        created = await client.post("/api/v1/meetings", headers=headers, json=meeting())
        data = (await created.get_json())["data"]
        assert data["settings"]["enable_captions"] is False  # off unless asked for
        path = f"/api/v1/meetings/{data['meeting_id']}"
        for value in (True, False):
            updated = await client.put(
                path, headers=headers, json={"settings": {"enable_captions": value}}
            )
            assert updated.status_code == 200
            got = await (await client.get(path, headers=headers)).get_json()
            assert got["data"]["settings"]["enable_captions"] is value
        # The host, a participant, reads the (empty) transcript.
        empty = await client.get(f"{path}/transcript", headers=headers)
        body = await empty.get_json()
        assert body["data"] == {"segments": [], "total": 0, "page": 1, "page_size": 20}
        vtt = await client.get(f"{path}/transcript?format=vtt", headers=headers)
        assert (await vtt.get_data(as_text=True)) == "WEBVTT\n"
        # Stored finals come back in order, paged, with the speaker's name, on both databases.
        from plugins.captions.service import deliver

        user = await User.get(username="hana")
        async with client.app.app_context():
            for start, text in ((4.5, "second"), (1.25, "first")):
                caption = {"text": text, "final": True, "start": start, "end": start + 1}
                await deliver(data["meeting_id"], user.id, "s1", caption)
        page = await client.get(f"{path}/transcript?page=2&page_size=1", headers=headers)
        body = (await page.get_json())["data"]
        assert body["total"] == 2 and [s["text"] for s in body["segments"]] == ["second"]
        assert body["segments"][0]["username"] == "hana" and body["segments"][0]["start"] == 4.5
        vtt = await client.get(f"{path}/transcript", headers={**headers, "Accept": "text/vtt"})
        text = await vtt.get_data(as_text=True)
        assert text.index("<v hana>first") < text.index("<v hana>second")


@pytest.mark.parametrize("how", ["create", "update"])
async def test_without_a_recognizer_switching_captions_on_is_refused(make_client, how) -> None:
    async with make_client(plugins={"enabled": BASE}) as client:
        headers = await host_headers(client)
        if how == "create":
            response = await client.post(
                "/api/v1/meetings", headers=headers, json=meeting(enable_captions=True)
            )
        else:
            created = await client.post("/api/v1/meetings", headers=headers, json=meeting())
            assert created.status_code == 201  # captions off: nothing to refuse
            meeting_id = (await created.get_json())["data"]["meeting_id"]
            response = await client.put(
                f"/api/v1/meetings/{meeting_id}",
                headers=headers,
                json={"title": "Renamed", "settings": {"enable_captions": True}},
            )
            got = await client.get(f"/api/v1/meetings/{meeting_id}", headers=headers)
            data = (await got.get_json())["data"]
            assert data["title"] == "Standup" and data["settings"]["enable_captions"] is False
        assert response.status_code == 422
        body = await response.get_json()
        assert body["message"].startswith("settings.enable_captions:") and body["request_id"]


async def test_one_node_captions_a_meeting_until_it_stops_confirming(
    make_client, db_overrides
) -> None:
    from datetime import UTC, datetime, timedelta

    from plugins.captions.models import CaptionRoom
    from plugins.captions.service import claim, unclaim

    async with (
        make_client(plugins={"enabled": BASE}, **db_overrides) as client,
        client.app.app_context(),
    ):
        assert await claim(7, "node-a")
        assert not await claim(7, "node-b")  # node a is alive
        assert await claim(7, "node-a")  # a node may renew its own claim
        assert await claim(8, "node-b")  # other meetings are free
        old = datetime.now(UTC) - timedelta(seconds=31)
        await CaptionRoom.filter(meeting_id=7).update(heartbeat_at=old)
        assert await claim(7, "node-b")  # node a died: b takes over
        await unclaim(7, "node-a")  # a no longer owns it: nothing happens
        assert (await CaptionRoom.get(meeting_id=7)).node == "node-b"
        await unclaim(7, "node-b")
        assert await claim(7, "node-a")
