"""The permission matrix of the meetings plugin (see its docstring), cell by cell.

Each endpoint is called by the host, a moderator, a participant, another user, an admin and
an anonymous client, each against a fresh meeting, and the status is compared with the table.
Recording answers 503 where it is allowed (no recording plugin is enabled here).
"""

from __future__ import annotations

import pytest

from .conftest import meeting_payload

ROLES = ("host", "moderator", "participant", "other", "admin", "anonymous")

# endpoint: (method, path under /api/v1/meetings, body, statuses in ROLES order)
MATRIX = {
    "17 create": ("post", "", "payload", (201, 201, 201, 201, 201, 401)),
    "18 list": ("get", "", None, (200, 200, 200, 200, 200, 401)),
    "19 get": ("get", "/{m}", None, (200, 200, 200, 200, 200, 401)),
    "20 update": ("put", "/{m}", {"title": "New"}, (200, 200, 403, 403, 200, 401)),
    "21 delete": ("delete", "/{m}", None, (200, 403, 403, 403, 200, 401)),
    "22 start": ("post", "/{m}/start", None, (200, 403, 403, 403, 200, 401)),
    "23 end": ("post", "/{m}/end", None, (200, 403, 403, 403, 200, 401)),
    "24 join": ("post", "/{m}/join", None, (200, 200, 200, 200, 200, 401)),
    "25 leave": ("post", "/{m}/leave", None, (409, 200, 200, 409, 409, 401)),
    "26 participants": ("get", "/{m}/participants", None, (200, 200, 200, 403, 200, 401)),
    "27 add participant": (
        "post",
        "/{m}/participants",
        {"user_id": "{newcomer}"},
        (201, 201, 403, 403, 201, 401),
    ),
    "28 remove participant": (
        "delete",
        "/{m}/participants/{extra}",
        None,
        (200, 200, 403, 403, 200, 401),
    ),
    "29 change role": (
        "put",
        "/{m}/participants/{extra}/role",
        {"role": "moderator"},
        (200, 403, 403, 403, 200, 401),
    ),
    "30 recording start": ("post", "/{m}/recording/start", None, (503, 503, 403, 403, 503, 401)),
    "31 recording stop": ("post", "/{m}/recording/stop", None, (503, 503, 403, 403, 503, 401)),
    "32 recordings": ("get", "/{m}/recordings", None, (503, 503, 503, 403, 503, 401)),
    "33 read chat": ("get", "/{m}/messages", None, (200, 200, 200, 403, 200, 401)),
    "34 send chat": ("post", "/{m}/messages", {"content": "hi"}, (201, 201, 201, 403, 201, 401)),
}


async def setup_meeting(client, people, index: int) -> dict:
    """A started meeting with a host, a moderator, a participant and one more participant."""
    names = {
        role: f"{role[:4]}{index}"
        for role in ("host", "moderator", "participant", "other", "admin", "extra", "newcomer")
    }
    users = {}
    for role, name in names.items():
        users[role] = await people.add(name, admin=(role == "admin"))
    headers = {role: auth for role, (_user, auth) in users.items()}
    response = await client.post(
        "/api/v1/meetings",
        headers=headers["host"],
        json=meeting_payload(settings={"enable_recording": True}),
    )
    mid = (await response.get_json())["data"]["meeting_id"]
    for role in ("moderator", "participant", "extra"):
        await client.post(f"/api/v1/meetings/{mid}/join", headers=headers[role])
    await client.put(
        f"/api/v1/meetings/{mid}/participants/{users['moderator'][0].id}/role",
        headers=headers["host"],
        json={"role": "moderator"},
    )
    return {
        "m": mid,
        "headers": headers,
        "ids": {role: user.id for role, (user, _auth) in users.items()},
    }


def fill(value, ids: dict, mid: int):
    if isinstance(value, dict):
        return {k: fill(v, ids, mid) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    return value


@pytest.mark.parametrize("endpoint", list(MATRIX))
async def test_permission_matrix(sqlite_client, people, endpoint):
    method, path, body, expected = MATRIX[endpoint]
    seen = []
    for index, role in enumerate(ROLES):
        world = await setup_meeting(sqlite_client, people, index)
        url = "/api/v1/meetings" + path.format(m=world["m"], extra=world["ids"]["extra"])
        kwargs = {}
        if body == "payload":
            kwargs["json"] = meeting_payload()
        elif body is not None:
            kwargs["json"] = fill(body, world["ids"], world["m"])
        headers = {} if role == "anonymous" else world["headers"][role]
        response = await getattr(sqlite_client, method)(url, headers=headers, **kwargs)
        seen.append(response.status_code)
    assert tuple(seen) == expected, dict(zip(ROLES, seen, strict=True))
