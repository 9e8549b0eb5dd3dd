"""The signaling client: one meeting room over /ws/signaling, kept up across network drops.

The server holds a session whose socket dropped without `leave` for `signaling.reconnect_grace`
seconds (15 by default). This client reconnects within it with `session_id=` and so resumes the
same session: the room sees neither `user-left` nor `user-joined`, and relayed messages keep
reaching it under the same session id. It answers the server's heartbeat pings; `close()` sends
`leave` so the room hears at once that the session ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from platform_client.errors import PlatformError

log = logging.getLogger("platform_client.signaling")

TokenSource = str | Callable[[], Awaitable[str]]

# Close codes after which reconnecting is pointless: the server ended the session on purpose.
FINAL_CLOSE_CODES = {
    1000: "closed",
    1008: "policy violation",
    1009: "messages too large",
    4403: "removed from the meeting",
    4409: "the session was resumed on another connection",
    4410: "the meeting has ended",
}


class SignalingClosed(PlatformError):
    """The room connection ended for good (left, removed, meeting over, or unreachable)."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class SignalingClient:
    """A participant's connection to a meeting room.

    ```
    async with client.signaling(meeting_id) as room:  # client: a logged-in PlatformClient
        await room.chat("hello")
        async for message in room:
            print(message["type"], message["data"])
    ```
    Iteration yields every message except heartbeats (a fresh `room-info` follows each
    reconnect, with `resumed` true when the session survived) and ends when the connection ends
    for good; `closed` then says why.
    """

    def __init__(
        self,
        base_url: str,
        meeting_id: int,
        token: TokenSource,
        *,
        reconnect: bool = True,
        reconnect_within: float = 60.0,
        max_backoff: float = 2.0,
        open_timeout: float = 10.0,
        user_agent: str = "meeting-platform-client (python)",
    ) -> None:
        ws_base = base_url.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
        self.url = f"{ws_base}/ws/signaling"
        self.meeting_id = meeting_id
        self._token = token
        self.reconnect = reconnect
        self.reconnect_within = reconnect_within
        self.max_backoff = max_backoff
        self.open_timeout = open_timeout
        self.user_agent = user_agent
        self.session_id: str | None = None
        self.room: dict[str, Any] = {}  # the latest room-info: participants, ice_servers, ...
        self.reconnects = 0
        self.closed: SignalingClosed | None = None
        self._ws: Any = None
        self._connected = asyncio.Event()
        self._joined: asyncio.Future | None = None
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._closing = False

    # -- life cycle ------------------------------------------------------------------------

    async def connect(self) -> dict[str, Any]:
        """Open the connection and return the room-info (participants, ice_servers, session)."""
        if self._task is not None:
            raise PlatformError("already connected")
        self._joined = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(), name=f"signaling-{self.meeting_id}")
        return await asyncio.shield(self._joined)

    async def __aenter__(self) -> SignalingClient:
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self, leave: bool = True) -> None:
        """Leave the room (unless `leave=False`: the session is then held for the grace)."""
        self._closing = True
        ws = self._ws
        if ws is not None and leave:
            # The server closes the socket once it has ended the session: wait for that. Closing
            # first would cut the server's handling of `leave` short (it stops serving a socket
            # that the client closed), and the room would hear "connection lost" after the grace.
            with contextlib.suppress(Exception):
                await ws.send(json.dumps({"type": "leave"}))
            if self._task is not None:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                    async with asyncio.timeout(5):
                        await asyncio.shield(self._task)
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if self._task is not None:
            if not self._task.done():
                try:
                    async with asyncio.timeout(5):
                        await asyncio.shield(self._task)
                except TimeoutError:
                    self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._finish(SignalingClosed("closed by the client", 1000))

    async def drop(self) -> None:
        """Abort the TCP connection without a close handshake (what a network failure does)."""
        if self._ws is not None:
            self._ws.transport.abort()

    # -- receiving -------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            message = await self._inbox.get()
            if message is None:
                self._inbox.put_nowait(None)  # every iterator ends, not only the first
                return
            yield message

    async def receive(self, *types: str, within: float | None = None) -> dict[str, Any]:
        """The next message (of one of `types` if given; others are skipped); TimeoutError
        after `within` seconds."""
        async with asyncio.timeout(within):
            async for message in self:
                if not types or message["type"] in types:
                    return message
        raise self.closed or SignalingClosed("closed")

    # -- sending ---------------------------------------------------------------------------

    async def send(
        self, kind: str, data: dict[str, Any] | None = None, to: str | int | None = None
    ) -> None:
        """Send a message; while reconnecting it waits for the connection to be back."""
        message: dict[str, Any] = {"type": kind, "data": data or {}}
        if to is not None:
            message["to"] = to
        text = json.dumps(message)
        while True:
            if self.closed is not None:
                raise self.closed
            await self._wait_connected()
            try:
                await self._ws.send(text)
                return
            except ConnectionClosed:
                await asyncio.sleep(0.05)  # the reader notices and reconnects

    async def _wait_connected(self) -> None:
        if self._task is None:
            raise PlatformError("not connected: call connect() first")
        waiter = asyncio.ensure_future(self._connected.wait())
        done, _ = await asyncio.wait([waiter, self._task], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if self.closed is not None:
            raise self.closed
        if waiter not in done:
            raise SignalingClosed("not connected")

    async def offer(self, to: str | int, sdp: str) -> None:
        await self.send("offer", {"type": "offer", "sdp": sdp}, to)

    async def answer(self, to: str | int, sdp: str) -> None:
        await self.send("answer", {"type": "answer", "sdp": sdp}, to)

    async def ice_candidate(
        self, to: str | int, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        data = {"candidate": candidate, "sdpMid": sdp_mid, "sdpMLineIndex": sdp_mline_index}
        await self.send("ice-candidate", data, to)

    async def chat(self, content: str) -> None:
        """Stored and delivered to the room as `chat` (to the sender too)."""
        await self.send("chat", {"content": content})

    async def media_state(
        self,
        audio_enabled: bool | None = None,
        video_enabled: bool | None = None,
        screen_share: bool | None = None,
    ) -> None:
        state = {
            key: value
            for key, value in (
                ("audio_enabled", audio_enabled),
                ("video_enabled", video_enabled),
                ("screen_share", screen_share),
            )
            if value is not None
        }
        await self.send("media-state", state)

    # -- the connection --------------------------------------------------------------------

    async def _open(self) -> Any:
        token = self._token if isinstance(self._token, str) else await self._token()
        query = {"meeting_id": self.meeting_id}
        if self.session_id:
            query["session_id"] = self.session_id
        return await websockets.connect(
            f"{self.url}?{urlencode(query)}",
            additional_headers={"Authorization": f"Bearer {token}"},
            user_agent_header=self.user_agent,
            open_timeout=self.open_timeout,
            max_size=2**20,
        )

    async def _run(self) -> None:
        failing_since: float | None = None
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                self._ws = await self._open()
            except InvalidStatus as exc:
                status = exc.response.status_code
                # Refused on purpose (not a member, meeting over...): retrying will not help.
                # A 401 may be an expired token that the token source renews, a 5xx passes.
                renewable = status == 401 and not isinstance(self._token, str)
                final = 400 <= status < 500 and status != 429 and not renewable
                if final or self._joined_pending():
                    self._fail(SignalingClosed(f"refused by the server: HTTP {status}", status))
                    return
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                if self._joined_pending():
                    self._fail(SignalingClosed(f"cannot connect: {exc}"))
                    return
            else:
                if self._closing:  # close() was called while this connection was opening
                    await self._ws.close()
                    break
                failing_since, attempt = None, 0
                code = await self._read(self._ws)
                self._connected.clear()
                if self._closing:
                    break
                if code in FINAL_CLOSE_CODES:
                    self._fail(SignalingClosed(FINAL_CLOSE_CODES[code], code))
                    return
                log.info(
                    "signaling of meeting %s dropped (%s): reconnecting", self.meeting_id, code
                )
            if not self.reconnect:
                self._fail(SignalingClosed("connection lost"))
                return
            failing_since = failing_since or loop.time()
            if loop.time() - failing_since > self.reconnect_within:
                self._fail(SignalingClosed("connection lost: the server did not come back"))
                return
            attempt += 1
            await asyncio.sleep(min(self.max_backoff, 0.1 * 2**attempt) * random.uniform(0.5, 1))
        self._finish(SignalingClosed("closed by the client", 1000))

    def _joined_pending(self) -> bool:
        return self._joined is not None and not self._joined.done()

    async def _read(self, ws: Any) -> int | None:
        """Read until the socket ends; its close code."""
        try:
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await ws.send('{"type":"pong"}')
                    continue
                if kind == "pong":
                    continue
                if kind == "room-info":
                    data = message.get("data") or {}
                    if self.session_id and data.get("session_id") == self.session_id:
                        data.setdefault("resumed", True)
                    if self._joined is not None and self._joined.done():
                        self.reconnects += 1
                    self.session_id = data.get("session_id", self.session_id)
                    self.room = data
                    self._connected.set()
                    if self._joined is not None and not self._joined.done():
                        self._joined.set_result(data)  # connect() returns it: not iterated
                        continue
                self._inbox.put_nowait(message)
        except ConnectionClosed:
            pass
        finally:
            self._ws = None
        return ws.close_code  # 1006 when it just broke

    def _fail(self, error: SignalingClosed) -> None:
        if self._joined is not None and not self._joined.done():
            self._joined.set_exception(error)
        self._finish(error)

    def _finish(self, error: SignalingClosed) -> None:
        if self.closed is None:
            self.closed = error
            self._inbox.put_nowait(None)
