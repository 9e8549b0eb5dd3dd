"""The REST client: envelopes unwrapped, errors typed, the access token kept fresh.

`PlatformClient` logs in (or takes tokens it is given), renews the access token with the refresh
token shortly before it expires, and if a call still comes back 401 (the token was revoked or
the clocks disagree) it refreshes once and repeats the call once. Concurrent calls share one
refresh: the refresh token rotates, so two refreshes at once would kill each other's session.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from platform_client.errors import PlatformError, error_for

API = "/api/v1"
FileSource = str | Path | bytes


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (epoch seconds), read without verifying: only to plan refreshes."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, ValueError, TypeError):
        return None


class PlatformClient:
    """An async client of one platform server for one user.

    ```
    async with PlatformClient("http://127.0.0.1:8000") as client:
        await client.login("ada", "secret-pass")
        meeting = await client.meetings.create("stand-up")
    ```
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        refresh_token: str | None = None,
        refresh_margin: float = 60.0,
        timeout: float = 30.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        self._own_http = http is None
        self.token = token
        self.refresh_token = refresh_token
        self.expires_at = token_expiry(token) if token else None
        self._lifetime: float | None = None
        self.refresh_margin = refresh_margin
        self.refreshes = 0  # how many times the access token was renewed (for the curious)
        self.user: dict[str, Any] | None = None
        self._refresh_lock = asyncio.Lock()
        self.users = Users(self)
        self.meetings = Meetings(self)
        self.media = Media(self)
        self.recording = Recording(self)

    async def __aenter__(self) -> PlatformClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self.http.aclose()

    # -- tokens ----------------------------------------------------------------------------

    def _keep(self, data: dict[str, Any]) -> None:
        self.token = data["token"]
        self.refresh_token = data.get("refresh_token", self.refresh_token)
        expires_in = data.get("expires_in")
        if isinstance(expires_in, int | float):
            self._lifetime = float(expires_in)
            self.expires_at = time.time() + float(expires_in)
        else:
            self.expires_at = token_expiry(self.token)

    def _due(self) -> bool:
        """The token expires within the margin (a short-lived one: within half its life)."""
        if self.expires_at is None or not self.refresh_token:
            return False
        margin = self.refresh_margin
        if self._lifetime is not None:
            margin = min(margin, self._lifetime / 2)
        return self.expires_at - time.time() < margin

    async def register(
        self, username: str, email: str, password: str, nickname: str | None = None
    ) -> dict[str, Any]:
        body = {"username": username, "email": email, "password": password}
        if nickname is not None:
            body["nickname"] = nickname
        return await self.request("POST", "/auth/register", json=body, auth=False)

    async def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in (username or email); the client keeps and renews the tokens."""
        data = await self.request(
            "POST", "/auth/login", json={"username": username, "password": password}, auth=False
        )
        self._keep(data)
        self.user = data.get("user")
        return data

    async def refresh(self, stale: str | None = None) -> None:
        """Renew the access token now (unless another call already renewed `stale`)."""
        async with self._refresh_lock:
            if stale is not None and self.token != stale:
                return  # someone else refreshed while we waited
            if not self.refresh_token:
                raise PlatformError("no refresh token: log in first")
            data = await self.request(
                "POST", "/auth/refresh", json={"refresh_token": self.refresh_token}, auth=False
            )
            self._keep(data)
            self.refreshes += 1

    async def logout(self) -> None:
        """Revoke the refresh token; the client holds no tokens afterwards."""
        if self.refresh_token:
            await self.request("POST", "/auth/logout", json={"refresh_token": self.refresh_token})
        self.token = self.refresh_token = None
        self.expires_at = None

    async def access_token(self) -> str:
        """A valid access token (renewed first if it is about to expire)."""
        if self._due():
            await self.refresh(self.token)
        if not self.token:
            raise PlatformError("not logged in")
        return self.token

    # -- calls -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        files: Callable[[], dict[str, Any]] | None = None,
        data: dict[str, Any] | None = None,
        auth: bool = True,
        raw: bool = False,
    ) -> Any:
        """Call `API + path`; the envelope's `data` (or the response when `raw`), else raise.

        `files` is a factory of httpx `files=`, so a call repeated after a refresh can send the
        upload again."""
        url = path if path.startswith(("http://", "https://", "/api/")) else API + path
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        for attempt in (1, 2):
            headers = {}
            token = None
            if auth:
                token = await self.access_token()
                headers["Authorization"] = f"Bearer {token}"
            response = await self.http.request(
                method,
                url,
                json=json,
                params=params,
                files=files() if files else None,
                data=data,
                headers=headers,
            )
            if response.status_code == 401 and auth and attempt == 1 and self.refresh_token:
                await self.refresh(token)
                continue
            break
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise error_for(response.status_code, body, dict(response.headers))
        if raw:
            return response
        return response.json().get("data")

    def signaling(self, meeting_id: int, **options: Any) -> Any:
        """A `SignalingClient` for a meeting's room, authenticated (and re-authenticated) by us."""
        from platform_client.signaling import SignalingClient

        return SignalingClient(self.base_url, meeting_id, self.access_token, **options)


class _Area:
    def __init__(self, client: PlatformClient) -> None:
        self.client = client


class Users(_Area):
    async def me(self) -> dict[str, Any]:
        """GET /users/profile: who the token belongs to."""
        return await self.client.request("GET", "/users/profile")

    async def update(self, **fields: Any) -> dict[str, Any]:
        """PUT /users/profile with nickname, email or avatar_url."""
        return await self.client.request("PUT", "/users/profile", json=fields)


class Meetings(_Area):
    async def create(
        self,
        title: str,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        max_participants: int = 10,
        meeting_type: str = "video",
        password: str | None = None,
        description: str | None = None,
        settings: dict[str, bool] | None = None,
    ) -> dict[str, Any]:
        """POST /meetings; starts in a minute and lasts an hour unless told otherwise."""
        start = start_time or datetime.now(UTC) + timedelta(minutes=1)
        end = end_time or start + timedelta(hours=1)
        body: dict[str, Any] = {
            "title": title,
            "start_time": start.isoformat(),
            "end_time": end.isoformat(),
            "max_participants": max_participants,
            "meeting_type": meeting_type,
        }
        for key, value in (
            ("password", password),
            ("description", description),
            ("settings", settings),
        ):
            if value is not None:
                body[key] = value
        return await self.client.request("POST", "/meetings", json=body)

    async def list(self, **query: Any) -> dict[str, Any]:
        """GET /meetings: page, page_size, status, keyword."""
        return await self.client.request("GET", "/meetings", params=query)

    async def get(self, meeting_id: int) -> dict[str, Any]:
        return await self.client.request("GET", f"/meetings/{meeting_id}")

    async def update(self, meeting_id: int, **fields: Any) -> dict[str, Any]:
        return await self.client.request("PUT", f"/meetings/{meeting_id}", json=fields)

    async def delete(self, meeting_id: int) -> dict[str, Any]:
        return await self.client.request("DELETE", f"/meetings/{meeting_id}")

    async def start(self, meeting_id: int) -> dict[str, Any]:
        return await self.client.request("POST", f"/meetings/{meeting_id}/start")

    async def end(self, meeting_id: int) -> dict[str, Any]:
        return await self.client.request("POST", f"/meetings/{meeting_id}/end")

    async def join(self, meeting_id: int, password: str | None = None) -> dict[str, Any]:
        """POST /join: `{meeting_id, participant_id, room_url, ice_servers}`."""
        body = {"password": password} if password is not None else {}
        return await self.client.request("POST", f"/meetings/{meeting_id}/join", json=body)

    async def leave(self, meeting_id: int) -> dict[str, Any]:
        return await self.client.request("POST", f"/meetings/{meeting_id}/leave")

    async def participants(self, meeting_id: int) -> list[dict[str, Any]]:
        data = await self.client.request("GET", f"/meetings/{meeting_id}/participants")
        return data["participants"]

    async def add_participant(
        self, meeting_id: int, user_id: int, role: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"user_id": user_id}
        if role is not None:
            body["role"] = role
        return await self.client.request("POST", f"/meetings/{meeting_id}/participants", json=body)

    async def remove_participant(self, meeting_id: int, user_id: int) -> dict[str, Any]:
        return await self.client.request("DELETE", f"/meetings/{meeting_id}/participants/{user_id}")

    async def set_role(self, meeting_id: int, user_id: int, role: str) -> dict[str, Any]:
        return await self.client.request(
            "PUT", f"/meetings/{meeting_id}/participants/{user_id}/role", json={"role": role}
        )

    async def messages(self, meeting_id: int, page: int = 1, page_size: int = 50) -> dict:
        """GET /messages: `{messages, total, ...}` (chat history)."""
        return await self.client.request(
            "GET",
            f"/meetings/{meeting_id}/messages",
            params={"page": page, "page_size": page_size},
        )

    async def send_message(self, meeting_id: int, content: str) -> dict[str, Any]:
        """POST /messages: stored and delivered live to the room."""
        return await self.client.request(
            "POST", f"/meetings/{meeting_id}/messages", json={"content": content}
        )

    async def recordings(self, meeting_id: int) -> list[dict[str, Any]]:
        data = await self.client.request("GET", f"/meetings/{meeting_id}/recordings")
        return data["recordings"]


class Media(_Area):
    async def upload(
        self,
        source: FileSource,
        *,
        filename: str | None = None,
        meeting_id: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """POST /media/upload (multipart `file`): `{file_id, file_url, size, mime_type, ...}`."""
        if isinstance(source, bytes):
            name, content = filename or "upload.bin", source
        else:
            path = Path(source)
            name, content = filename or path.name, await asyncio.to_thread(path.read_bytes)

        def files() -> dict[str, Any]:
            return {"file": (name, content, content_type)}

        form = {"meeting_id": str(meeting_id)} if meeting_id is not None else None
        return await self.client.request("POST", "/media/upload", files=files, data=form)

    async def download(self, file_id: int, to: str | Path | None = None) -> bytes:
        """GET /media/download/{file_id}: the bytes (also written to `to` when given)."""
        response = await self.client.request("GET", f"/media/download/{file_id}", raw=True)
        if to is not None:
            await asyncio.to_thread(Path(to).write_bytes, response.content)
        return response.content

    async def info(self, file_id: int) -> dict[str, Any]:
        return await self.client.request("GET", f"/media/info/{file_id}")

    async def list(self, **query: Any) -> dict[str, Any]:
        """GET /media: meeting_id, file_type, page, page_size."""
        return await self.client.request("GET", "/media", params=query)

    async def delete(self, file_id: int) -> dict[str, Any]:
        return await self.client.request("DELETE", f"/media/{file_id}")


class Recording(_Area):
    async def start(
        self,
        meeting_id: int,
        *,
        title: str | None = None,
        quality: str | None = None,
        format: str | None = None,
    ) -> dict[str, Any]:
        """POST /recording/start: the server records the meeting's media."""
        body: dict[str, Any] = {"meeting_id": meeting_id}
        for key, value in (("title", title), ("quality", quality), ("format", format)):
            if value is not None:
                body[key] = value
        return await self.client.request("POST", "/recording/start", json=body)

    async def stop(self, recording_id: int) -> dict[str, Any]:
        return await self.client.request(
            "POST", "/recording/stop", json={"recording_id": recording_id}
        )

    async def get(self, recording_id: int) -> dict[str, Any]:
        return await self.client.request("GET", f"/recording/{recording_id}")

    async def list(self, meeting_id: int | None = None, **query: Any) -> dict[str, Any]:
        return await self.client.request(
            "GET", "/recording/list", params={"meeting_id": meeting_id, **query}
        )

    async def delete(self, recording_id: int) -> dict[str, Any]:
        return await self.client.request("DELETE", f"/recording/{recording_id}")

    async def download(self, recording_id: int, to: str | Path | None = None) -> bytes:
        response = await self.client.request("GET", f"/recording/{recording_id}/download", raw=True)
        if to is not None:
            await asyncio.to_thread(Path(to).write_bytes, response.content)
        return response.content

    async def wait(
        self,
        recording_id: int,
        states: tuple[str, ...] = ("completed", "failed"),
        within: float = 120.0,
        interval: float = 0.2,
    ) -> dict[str, Any]:
        """Poll until the recording reaches one of `states`; TimeoutError after `within` s."""
        deadline = time.monotonic() + within
        while True:
            recording = await self.get(recording_id)
            if recording["status"] in states:
                return recording
            if time.monotonic() > deadline:
                raise TimeoutError(f"recording {recording_id} stayed {recording['status']}")
            await asyncio.sleep(interval)
