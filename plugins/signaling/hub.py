"""The connections of this node, grouped by room, and delivery to them.

A room message is handed to this node's connections at once (encoded to JSON once, the same
frame written to every receiver). With Redis it also goes out on the event bus channel
`signaling:room:<meeting_id>` (the bus queues it: no sender waits for Redis): one listener per
room per node hands the other nodes' messages to its local connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from typing import Any

from kernel.api import text_frame

log = logging.getLogger("platform.signaling")

CLOSE_SLOW_CONSUMER = 1013
_CLOSE = object()


class Connection:
    """One accepted WebSocket, sent to without ever making the room wait for it.

    A socket that takes ready-made frames (`ws.direct`, see kernel.websockets.accept_websocket)
    collects what is offered during one event-loop turn and writes it in one go at the end of
    the turn; a receiver with more than `buffer_bytes` unsent is dropped. Any other socket gets
    a bounded queue drained by its own sender task; one with `queue_size` messages waiting is
    dropped.
    """

    def __init__(
        self,
        ws: Any,
        session_id: str,
        connection_id: str,
        user: Any,
        meeting_id: int,
        queue_size: int,
        buffer_bytes: int = 1 << 20,
    ) -> None:
        self.ws = ws
        self.session_id = session_id
        self.connection_id = connection_id
        self.user = user
        self.user_id = user.id
        self.username = user.username
        self.meeting_id = meeting_id
        self.direct = bool(getattr(ws, "direct", False))
        # A deque and one future to wake the sender: cheaper per message than asyncio.Queue.
        self.queue: deque[Any] = deque()
        self.queue_size = queue_size
        self.buffer_bytes = buffer_bytes
        self.pending: list[bytes] = []  # direct: frames of this loop turn
        self._wake: asyncio.Future | None = None
        self.last_received = time.monotonic()
        self.errors = 0
        self.window_start = time.monotonic()
        self.window_count = 0
        self.close_code: int | None = None
        # The user's access to the meeting, reused for a moment (see Signaling.chat_access).
        self.access: Any = None
        self.access_at = 0.0
        # The task reading this socket: stopped once we closed it, since a peer that never
        # answers the close frame would otherwise keep it waiting for ever.
        self.reader: asyncio.Task | None = None
        # What still has to go out (the sender, or the closing handshake of a direct socket).
        self.sender: asyncio.Task | None = None
        if not self.direct:
            self.sender = asyncio.create_task(self._send_loop(), name=f"ws-send-{session_id}")

    def offer(self, text: str, frame: bytes | None = None) -> bool:
        """Queue a message (`frame`: the same as a ready-made frame); False when the receiver
        is too slow."""
        if self.close_code is not None:
            return True
        if self.direct:
            if not self.pending:
                asyncio.get_running_loop().call_soon(self._flush)
            self.pending.append(frame or text_frame(text))
            return True
        if len(self.queue) >= self.queue_size:
            return False
        self.queue.append(text)
        self._wake_sender()
        return True

    def _flush(self) -> bool:
        if not self.pending:
            return True
        frames = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending.clear()
        try:
            unsent = self.ws.write(frames)
        except Exception:  # the socket is gone: the receive side notices and cleans up
            log.debug("send to session %s failed", self.session_id, exc_info=True)
            return True
        if unsent <= self.buffer_bytes:
            return True
        log.warning("session %s cannot keep up (%d bytes unsent): dropped", self.session_id, unsent)
        self.close_code = CLOSE_SLOW_CONSUMER
        self.ws.abort()  # a close frame would only queue behind what it cannot read
        return False

    def _wake_sender(self) -> None:
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def close(self, code: int, reason: str) -> None:
        """Close after what is queued (or at once if the queue is full)."""
        if self.close_code is not None:
            return
        if self.direct:
            if self._flush():  # else it was too slow and is dropped already
                self.close_code = code
                self.sender = asyncio.create_task(self._close_now(code, reason))
            return
        self.close_code = code
        if len(self.queue) < self.queue_size:
            self.queue.append((_CLOSE, code, reason))
            self._wake_sender()
        else:  # no room for the close marker: drop what is queued
            self.sender.cancel()
            self.sender = asyncio.create_task(self._close_now(code, reason))

    async def _close_now(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason[:120])
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()

    async def _send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not self.queue:
                    self._wake = loop.create_future()
                    await self._wake
                    self._wake = None
                item = self.queue.popleft()
                if isinstance(item, tuple) and item and item[0] is _CLOSE:
                    await self._close_now(item[1], item[2])
                    return
                await self.ws.send_text(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket is gone: the receive side notices and cleans up
            log.debug("send to session %s failed", self.session_id, exc_info=True)

    async def finished(self) -> None:
        """Wait until what is queued, and the close frame if closing, went out."""
        if self.direct:
            self._flush()
        if self.sender is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.sender

    async def stop(self) -> None:
        self.pending.clear()
        if self.sender is not None:
            self.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.sender


class Hub:
    def __init__(self, events: Any, node: str = "") -> None:
        self.events = events
        self.node = node
        # Other nodes exist only through Redis: without it, local delivery is all there is.
        self.remote = bool(getattr(events, "redis_url", None))
        self.rooms: dict[int, dict[str, Connection]] = {}
        self._listeners: dict[int, asyncio.Task] = {}
        self.received = 0
        self.delivered = 0
        self.delivered_by_room: dict[int, int] = {}
        self._recent: deque[tuple[int, int]] = deque(maxlen=120)  # (second, deliveries)

    # -- membership ----------------------------------------------------------------------

    async def add(self, conn: Connection) -> None:
        room = self.rooms.setdefault(conn.meeting_id, {})
        room[conn.session_id] = conn
        if self.remote and conn.meeting_id not in self._listeners:
            ready = asyncio.Event()
            self._listeners[conn.meeting_id] = asyncio.create_task(
                self._listen(conn.meeting_id, ready), name=f"room-{conn.meeting_id}"
            )
            async with asyncio.timeout(10):
                await ready.wait()

    async def remove(self, conn: Connection) -> None:
        room = self.rooms.get(conn.meeting_id, {})
        if room.get(conn.session_id) is conn:
            del room[conn.session_id]
        if not room:
            self.rooms.pop(conn.meeting_id, None)
            listener = self._listeners.pop(conn.meeting_id, None)
            if listener:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    def local(self, meeting_id: int, user_id: int | None = None) -> list[Connection]:
        conns = list(self.rooms.get(meeting_id, {}).values())
        return [c for c in conns if user_id is None or c.user_id == user_id]

    def all(self) -> list[Connection]:
        return [c for room in self.rooms.values() for c in room.values()]

    async def stop(self) -> None:
        for task in self._listeners.values():
            task.cancel()
        for task in list(self._listeners.values()):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._listeners.clear()

    # -- delivery ------------------------------------------------------------------------

    async def publish(
        self,
        meeting_id: int,
        message: dict[str, Any],
        *,
        to_user: int | None = None,
        to_session: str | None = None,
        exclude_session: str | None = None,
    ) -> None:
        """Send a message to the room on every node (or to one user or session in it)."""
        payload = {
            "text": json.dumps(message, separators=(",", ":")),
            "to_user": to_user,
            "to_session": to_session,
            "exclude": exclude_session,
            "node": self.node,
        }
        self._deliver(meeting_id, payload)
        if to_session is not None and to_session in self.rooms.get(meeting_id, ()):
            return  # a session lives on one node at a time: the other nodes need not hear it
        if self.remote:
            await self.events.send(f"signaling:room:{meeting_id}", payload)

    async def _listen(self, meeting_id: int, ready: asyncio.Event) -> None:
        async with self.events.subscribe(f"signaling:room:{meeting_id}") as messages:
            ready.set()
            async for payload in messages:
                if payload.get("node") != self.node:  # ours went out locally already
                    self._deliver(meeting_id, payload)

    def _deliver(self, meeting_id: int, payload: dict[str, Any]) -> None:
        room = self.rooms.get(meeting_id)
        if not room:
            return
        text, exclude = payload["text"], payload.get("exclude")
        to_session, to_user = payload.get("to_session"), payload.get("to_user")
        if to_session:
            conn = room.get(to_session)
            targets = [conn] if conn is not None else []
        else:
            targets = [
                c
                for c in room.values()
                if c.session_id != exclude and (to_user is None or c.user_id == to_user)
            ]
        count = 0
        frame = text_frame(text) if any(c.direct for c in targets) else None
        for conn in targets:
            if conn.offer(text, frame):
                count += 1
            else:
                log.warning("session %s cannot keep up: dropped", conn.session_id)
                conn.close(CLOSE_SLOW_CONSUMER, "too slow: messages were piling up")
        self.count_delivered(meeting_id, count)

    def count_delivered(self, meeting_id: int, count: int) -> None:
        if not count:
            return
        self.delivered += count
        self.delivered_by_room[meeting_id] = self.delivered_by_room.get(meeting_id, 0) + count
        second = int(time.time())
        if self._recent and self._recent[-1][0] == second:
            self._recent[-1] = (second, self._recent[-1][1] + count)
        else:
            self._recent.append((second, count))

    def messages_per_second(self, window: int = 10) -> float:
        now = int(time.time())
        recent = sum(n for second, n in self._recent if now - window <= second < now)
        return round(recent / window, 2)
