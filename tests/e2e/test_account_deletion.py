"""Deleting an account (users plugin) keeps the meetings it hosted working for the others."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from plugins.meetings.models import Meeting, Participant


async def test_deleting_a_host_hands_the_meeting_over(make_client):
    async with make_client(
        plugins={"enabled": ["users", "meetings"]}, ratelimit={"enabled": False}
    ) as client:
        auth = client.app.extensions["platform"].auth
        headers = {}
        for name in ("hana", "gus"):
            await auth.create_user(name, f"{name}@example.com", "password-1")
            pair, _ = await auth.login(name, "password-1")
            headers[name] = {"Authorization": f"Bearer {pair.token}"}
        start = datetime.now(UTC) + timedelta(hours=1)
        times = {
            "start_time": start.isoformat(),
            "end_time": (start + timedelta(hours=1)).isoformat(),
            "max_participants": 5,
        }
        response = await client.post(
            "/api/v1/meetings", headers=headers["hana"], json={"title": "Live", **times}
        )
        live = (await response.get_json())["data"]["meeting_id"]
        response = await client.post(
            "/api/v1/meetings", headers=headers["hana"], json={"title": "Later", **times}
        )
        later = (await response.get_json())["data"]["meeting_id"]
        await client.post(f"/api/v1/meetings/{live}/start", headers=headers["hana"])
        await client.post(f"/api/v1/meetings/{live}/join", headers=headers["hana"])
        await client.post(f"/api/v1/meetings/{live}/join", headers=headers["gus"])

        deleted = await client.delete("/api/v1/users/account", headers=headers["hana"])
        assert deleted.status_code == 200

        host = await Participant.get(meeting_id=live, role="host").prefetch_related("user")
        assert host.user.username == "gus"
        assert (await Meeting.get(id=live)).status == "ongoing"
        assert (await Meeting.get(id=later)).status == "cancelled"
        chat = await client.post(
            f"/api/v1/meetings/{live}/messages",
            headers=headers["gus"],
            json={"content": "carrying on"},
        )
        assert chat.status_code == 201
        gone = await client.get("/api/v1/users/profile", headers=headers["hana"])
        assert gone.status_code == 401
