"""Signaling sessions and messages: who is connected where, and what each message does.

Callable without HTTP. The WebSocket route opens a session, feeds every received frame to
`handle`, and closes the session when the socket ends; the hub delivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import current_app, has_app_context
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from kernel.api import ApiError, User, bulk_insert, iso, parse_json
from plugins.meetings import service as meetings
from plugins.meetings.models import ParticipantStatus
from plugins.signaling.hub import Connection, Hub
from plugins.signaling.models import SessionStatus, SignalingMessage, SignalingSession

log = logging.getLogger("platform.signaling")

# Error codes in `error` messages (2xxx: the meetings range the room belongs to).
INVALID_MESSAGE = 2101
MESSAGE_TOO_LARGE = 2102
UNKNOWN_TYPE = 2103
TOO_MANY_MESSAGES = 2104
NO_SUCH_PEER = 2105
# WebSocket close codes.
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_REMOVED = 4403
CLOSE_MEETING_ENDED = 4410
CLOSE_REPLACED = 4409

RELAYED = ("offer", "answer", "ice-candidate")
KNOWN = (*RELAYED, "join", "leave", "chat", "media-state", "ping", "pong")
LIVE = (SessionStatus.CONNECTED, SessionStatus.RECONNECTING)
# Seconds a connection reuses its meeting access for chat: removal and meeting end close the
# socket at once (events), a settings change (chat disabled) applies within this time.
ACCESS_TTL = 1.0
# Seconds the connected sessions of a room (on any node) are reused to check relay targets; a
# target not found is always looked up again, so a peer that just joined is never refused.
PEERS_TTL = 2.0
# Chats stored in one transaction: one commit for many messages instead of one each.
CHAT_BATCH = 200
_STOP = None


@dataclass
class _ChatBatch:
    """While the chat writer stores a batch: its history rows (one bulk insert) and its room
    messages, published once the batch is committed (each receiver's sender wakes once)."""

    history: list[SignalingMessage]
    outgoing: list[tuple[int, dict[str, Any], str | None]]


_chat_batch: contextvars.ContextVar[_ChatBatch | None] = contextvars.ContextVar(
    "signaling_chat_batch", default=None
)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Config:
    heartbeat_interval: float = 15.0
    reconnect_grace: float = 15.0
    max_message_bytes: int = 65536
    max_messages_per_second: int = 50
    max_errors: int = 10
    send_queue_size: int = 256
    send_buffer_bytes: int = 1 << 20
    compression: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> Config:
        values = settings.get("signaling") or {}
        return cls(
            **{
                k: type(getattr(cls, k))(v)
                for k, v in values.items()
                if k in cls.__dataclass_fields__
            }
        )


class Signaling:
    """The signaling state of one node: its hub, its sessions' timers, its heartbeat."""

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        self.node = platform.node
        self.config = Config.from_settings(platform.settings)
        self.hub = Hub(platform.events, self.node)
        # Connected sessions of each room on any node, as last read: (monotonic time, {id: user}).
        self._peers: dict[int, tuple[float, dict[str, int]]] = {}
        self._grace: dict[str, asyncio.Task] = {}
        self._ending: set[asyncio.Task] = set()
        self._heartbeat: asyncio.Task | None = None
        self._chats: asyncio.Queue[tuple[Connection, str] | None] = asyncio.Queue()
        self._chat_writer: asyncio.Task | None = None
        self._stopping = False
        self._stop = asyncio.Event()
        self.started_at = time.time()

    async def start(self) -> None:
        # Sessions this node held before a restart are gone: let the others know.
        await self._reap(
            SignalingSession.filter(node=self.node, status__in=list(LIVE)), "node restarted"
        )
        self._heartbeat = asyncio.create_task(self._beat(), name="signaling-heartbeat")
        self._chat_writer = asyncio.create_task(self._write_chats(), name="signaling-chat")

    async def stop(self) -> None:
        # Sessions still open stay "connected" in the database: the next start of this node,
        # or the other nodes' heartbeat, ends them and tells their rooms.
        self._stopping = True
        self._stop.set()
        if self._heartbeat:
            # Let a running beat finish: cancelling it inside a transaction breaks the
            # database connection it holds.
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(10):
                    await self._heartbeat
        if self._chat_writer:
            # Chats already taken in are stored (and broadcast) before the database closes.
            self._chats.put_nowait(_STOP)
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(10):
                    await self._chat_writer
        tasks = list(self._grace.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ending:  # sessions being ended right now: let them finish with the database
            await asyncio.wait(self._ending, timeout=10)
        for conn in self.hub.all():
            conn.close(1001, "server shutting down")
        await self.hub.stop()

    # -- opening and closing -------------------------------------------------------------

    async def admit(self, user: User, meeting_id: int) -> None:
        """Refuse (ApiError) unless the user may be in the room; join through meeting rules."""
        acc = await meetings.access(meeting_id, user)
        meetings.refuse_if_closed(acc.meeting)
        if acc.participant is None or acc.participant.status == ParticipantStatus.OFFLINE:
            participant = await meetings.join(acc, None)  # password, seats, waiting room
        else:
            participant = acc.participant
        if participant.status == ParticipantStatus.WAITING:
            raise ApiError(403, "you are in the waiting room: the host has not admitted you yet")

    async def open(
        self, ws: Any, user: User, meeting_id: int, resume: str | None, user_agent: str | None
    ) -> tuple[Connection, bool]:
        """Register a connection: resume `resume` if it is this user's, else a new session."""
        now, connection_id = utcnow(), uuid.uuid4().hex
        resumed = False
        if resume:
            # Taking a session over is one conditional update: only one socket can win it.
            resumed = bool(
                await SignalingSession.filter(
                    id=resume, user_id=user.id, meeting_id=meeting_id, status__in=list(LIVE)
                ).update(
                    status=SessionStatus.CONNECTED,
                    node=self.node,
                    connection_id=connection_id,
                    last_seen=now,
                    disconnected_at=None,
                )
            )
        session_id = resume if resumed else uuid.uuid4().hex
        if resumed:
            timer = self._grace.pop(session_id, None)
            if timer:
                timer.cancel()
            for old in self.hub.local(meeting_id):
                if old.session_id == session_id:  # the same device's stale socket, here
                    await self.hub.remove(old)
                    old.close(CLOSE_REPLACED, "resumed on another connection")
        else:
            await SignalingSession.create(
                id=session_id,
                meeting_id=meeting_id,
                user_id=user.id,
                status=SessionStatus.CONNECTED,
                node=self.node,
                connection_id=connection_id,
                user_agent=(user_agent or "")[:300] or None,
                connected_at=now,
                last_seen=now,
            )
        conn = Connection(
            ws,
            session_id,
            connection_id,
            user,
            meeting_id,
            self.config.send_queue_size,
            self.config.send_buffer_bytes,
        )
        await self.hub.add(conn)
        await self.send_room_info(conn, resumed)
        if not resumed:
            await self.broadcast(
                conn.meeting_id,
                "user-joined",
                conn.user_id,
                {
                    "user_id": user.id,
                    "username": user.username,
                    "session_id": session_id,
                },
                exclude=session_id,
                keep=True,
            )
        log.info(
            "session %s %s: user %s in meeting %s",
            session_id,
            "resumed" if resumed else "opened",
            user.id,
            meeting_id,
        )
        return conn, resumed

    async def dropped(self, conn: Connection) -> None:
        """The socket ended without `leave`: hold the session for the reconnect grace."""
        await self.hub.remove(conn)
        await conn.stop()
        if self._stopping:
            return
        held = await SignalingSession.filter(
            id=conn.session_id, connection_id=conn.connection_id, status=SessionStatus.CONNECTED
        ).update(status=SessionStatus.RECONNECTING, disconnected_at=utcnow())
        if held:
            self._grace[conn.session_id] = asyncio.create_task(
                self._expire(conn.session_id, conn.connection_id)
            )

    async def left(self, conn: Connection, reason: str) -> None:
        """The session ends now (leave, removal, meeting end): no grace."""
        await self.hub.remove(conn)
        await self._end(
            SignalingSession.filter(
                id=conn.session_id, connection_id=conn.connection_id, status__in=list(LIVE)
            ),
            reason,
        )

    async def _expire(self, session_id: str, connection_id: str) -> None:
        await asyncio.sleep(self.config.reconnect_grace)
        self._grace.pop(session_id, None)
        # From here on the task is not cancelled (a resume no longer finds it): stop() waits.
        task = asyncio.current_task()
        self._ending.add(task)
        task.add_done_callback(self._ending.discard)
        await self._end(
            SignalingSession.filter(
                id=session_id, connection_id=connection_id, status=SessionStatus.RECONNECTING
            ),
            "connection lost",
        )

    async def _end(self, query: Any, reason: str) -> None:
        for session in await query:
            # Whoever flips the row tells the room: exactly once across nodes.
            ended = await SignalingSession.filter(
                id=session.id, connection_id=session.connection_id, status=session.status
            ).update(status=SessionStatus.DISCONNECTED, disconnected_at=utcnow())
            if not ended:
                continue
            # Leave the meeting first, so whoever hears user-left finds the seat already free.
            await self._leave_meeting_if_gone(session.meeting_id, session.user_id)
            await self.broadcast(
                session.meeting_id,
                "user-left",
                session.user_id,
                {
                    "user_id": session.user_id,
                    "session_id": session.id,
                    "reason": reason,
                },
                keep=True,
            )

    async def _leave_meeting_if_gone(self, meeting_id: int, user_id: int) -> None:
        """The user's last device left: they are no longer in the meeting (seat freed)."""
        if await SignalingSession.filter(
            meeting_id=meeting_id, user_id=user_id, status__in=list(LIVE)
        ).exists():
            return
        user = await User.get_or_none(id=user_id)
        if user is None:
            return
        with contextlib.suppress(ApiError):
            await meetings.leave(await meetings.access(meeting_id, user))

    async def _reap(self, query: Any, reason: str) -> None:
        await self._end(query, reason)

    # -- heartbeat -----------------------------------------------------------------------

    async def _beat(self) -> None:
        interval = self.config.heartbeat_interval
        ping = json.dumps({"type": "ping"})
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._stop.wait()
                return
            try:
                await self.heartbeat_once(ping)
            except Exception:
                log.exception("signaling heartbeat failed")

    async def heartbeat_once(self, ping: str) -> None:
        interval, now = self.config.heartbeat_interval, utcnow()
        self._peers = {
            mid: peers
            for mid, peers in self._peers.items()
            if time.monotonic() - peers[0] <= PEERS_TTL
        }
        silent_for = time.monotonic() - 2 * interval
        for conn in self.hub.all():
            if conn.last_received < silent_for:
                conn.close(CLOSE_POLICY, "no answer to pings")  # the receive loop ends
            else:
                conn.offer(ping)
        await SignalingSession.filter(node=self.node, status=SessionStatus.CONNECTED).update(
            last_seen=now
        )
        # Other nodes' sessions that stopped being refreshed: their node died.
        stale = now - timedelta(seconds=2 * interval)
        await self._reap(
            SignalingSession.filter(status=SessionStatus.CONNECTED, last_seen__lt=stale).exclude(
                node=self.node
            ),
            "node unreachable",
        )
        lapsed = now - timedelta(seconds=self.config.reconnect_grace)
        await self._reap(
            SignalingSession.filter(
                status=SessionStatus.RECONNECTING, disconnected_at__lt=lapsed
            ).exclude(id__in=list(self._grace)),
            "connection lost",
        )

    # -- messages ------------------------------------------------------------------------

    def envelope(
        self, kind: str, meeting_id: int, sender: int | None, data: Any, **extra: Any
    ) -> dict[str, Any]:
        return {
            "type": kind,
            "from": sender,
            "meeting_id": meeting_id,
            "data": data,
            "id": uuid.uuid4().hex,
            "timestamp": iso(utcnow()),
            **extra,
        }

    async def broadcast(
        self,
        meeting_id: int,
        kind: str,
        sender: int | None,
        data: Any,
        *,
        exclude: str | None = None,
        keep: bool = False,
        session_id: str | None = None,
    ) -> None:
        message = self.envelope(kind, meeting_id, sender, data)
        batch = _chat_batch.get()
        if keep:
            row = SignalingMessage(
                meeting_id=meeting_id,
                type=kind,
                from_user=sender,
                session_id=session_id or data.get("session_id"),
                data=data,
                created_at=utcnow(),
            )
            if batch is not None:
                batch.history.append(row)
            else:
                await row.save()
        if batch is not None:
            batch.outgoing.append((meeting_id, message, exclude))
        else:
            await self.hub.publish(meeting_id, message, exclude_session=exclude)

    def reply(self, conn: Connection, kind: str, data: Any, **extra: Any) -> None:
        message = self.envelope(kind, conn.meeting_id, None, data, **extra)
        if conn.offer(json.dumps(message, separators=(",", ":"))):
            self.hub.count_delivered(conn.meeting_id, 1)

    def error(self, conn: Connection, code: int, text: str) -> None:
        self.reply(conn, "error", {"code": code, "message": text})
        conn.errors += 1
        if conn.errors >= self.config.max_errors:
            conn.close(CLOSE_POLICY, "too many invalid messages")

    async def send_room_info(self, conn: Connection, resumed: bool) -> None:
        sessions = await SignalingSession.filter(
            meeting_id=conn.meeting_id, status__in=list(LIVE)
        ).order_by("connected_at")
        users = {u.id: u for u in await User.filter(id__in={s.user_id for s in sessions})}
        states = {
            p["user_id"]: p
            for p in await meetings.Participant.filter(meeting_id=conn.meeting_id).values(
                "user_id", "audio_enabled", "video_enabled", "role"
            )
        }
        participants = [
            {
                "user_id": s.user_id,
                "username": users[s.user_id].username if s.user_id in users else None,
                "session_id": s.id,
                "status": s.status.value,
                "role": states.get(s.user_id, {}).get("role"),
                "audio_enabled": states.get(s.user_id, {}).get("audio_enabled", True),
                "video_enabled": states.get(s.user_id, {}).get("video_enabled", True),
            }
            for s in sessions
        ]
        self.reply(
            conn,
            "room-info",
            {
                "session_id": conn.session_id,
                "peer_id": conn.session_id,
                "resumed": resumed,
                "participants": participants,
                "ice_servers": meetings.ice_servers(),
            },
        )

    def _over_rate(self, conn: Connection) -> bool:
        now = time.monotonic()
        if now - conn.window_start >= 1:
            conn.window_start, conn.window_count = now, 0
        conn.window_count += 1
        return conn.window_count > self.config.max_messages_per_second

    async def handle(self, conn: Connection, raw: str | bytes) -> bool:
        """Act on one received frame; False when the connection should end (leave)."""
        conn.last_received = time.monotonic()
        self.hub.received += 1
        if len(raw) > self.config.max_message_bytes:
            self.error(
                conn,
                MESSAGE_TOO_LARGE,
                f"message larger than {self.config.max_message_bytes} bytes",
            )
            if conn.errors >= 3:
                conn.close(CLOSE_TOO_BIG, "messages too large")
            return True
        if self._over_rate(conn):
            self.error(
                conn,
                TOO_MANY_MESSAGES,
                f"more than {self.config.max_messages_per_second} messages a second",
            )
            return True
        try:
            message = parse_json(raw)
        except ValueError:
            self.error(conn, INVALID_MESSAGE, "not valid JSON")
            return True
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.error(conn, INVALID_MESSAGE, "a message is a JSON object with a string 'type'")
            return True
        kind, data = message["type"], message.get("data")
        if kind not in KNOWN:
            self.error(conn, UNKNOWN_TYPE, f"unknown message type {kind[:40]!r}")
            return True
        if data is not None and not isinstance(data, dict):
            self.error(conn, INVALID_MESSAGE, "'data' must be a JSON object")
            return True
        data = data or {}
        try:
            return await self._dispatch(conn, kind, message, data)
        except ApiError as exc:
            self.reply(conn, "error", {"code": exc.code, "message": exc.message})
        except Exception:
            # Whatever went wrong stays with this message: the connection and room go on.
            log.exception("signaling %s from session %s failed", kind, conn.session_id)
            self.reply(conn, "error", {"code": 500, "message": f"{kind} failed on the server"})
        return True

    async def _dispatch(self, conn: Connection, kind: str, message: dict, data: dict) -> bool:
        if kind == "ping":
            self.reply(conn, "pong", {})
        elif kind == "pong":
            pass
        elif kind == "join":
            await self.send_room_info(conn, resumed=False)
        elif kind == "leave":
            await self.left(conn, "left")
            conn.close(CLOSE_NORMAL, "left")
            return False
        elif kind in RELAYED:
            await self._relay(conn, kind, message, data)
        elif kind == "chat":
            content = data.get("content")
            if not isinstance(content, str):
                self.error(conn, INVALID_MESSAGE, "chat: data.content must be a string")
                return True
            if not 1 <= len(content) <= 1000 or not content.strip():
                raise ApiError(422, "content: 1-1000 characters, not blank")
            # Stored in batches by the chat writer (one commit for many), so this socket goes
            # on reading meanwhile; the meetings service publishes it, on_event broadcasts it.
            self._chats.put_nowait((conn, content))
        elif kind == "media-state":
            await self._media_state(conn, data)
        return True

    async def _connected_peer(self, meeting_id: int, target: str | int) -> Any:
        """`target` (session id or user id) if connected to the room on any node, else None."""
        for fresh in (False, True):
            read_at, peers = self._peers.get(meeting_id, (0.0, {}))
            if fresh or time.monotonic() - read_at > PEERS_TTL:
                rows = await SignalingSession.filter(
                    meeting_id=meeting_id, status=SessionStatus.CONNECTED
                ).values_list("id", "user_id")
                peers = dict(rows)
                self._peers[meeting_id] = (time.monotonic(), peers)
                fresh = True
            known = peers if isinstance(target, str) else set(peers.values())
            if target in known:
                return target
            if fresh:
                return None
        return None

    async def chat_access(self, conn: Connection) -> meetings.Access:
        """The connection's access to its meeting, read again after ACCESS_TTL seconds."""
        now = time.monotonic()
        if conn.access is None or now - conn.access_at > ACCESS_TTL:
            conn.access = await meetings.access(conn.meeting_id, conn.user)
            conn.access_at = now
        return conn.access

    async def _write_chats(self) -> None:
        stopping = False
        while not stopping:
            batch: list[tuple[Connection, str]] = []
            item = await self._chats.get()
            while True:
                if item is _STOP:
                    stopping = True
                else:
                    batch.append(item)
                if stopping or len(batch) >= CHAT_BATCH or self._chats.empty():
                    break
                item = self._chats.get_nowait()
            if batch:
                try:
                    await self._store_chats(batch)
                except Exception:
                    log.exception("storing %d chat messages failed", len(batch))
                    for conn, _ in batch:
                        self.reply(conn, "error", {"code": 500, "message": "chat failed"})

    async def _store_chats(self, batch: list[tuple[Connection, str]]) -> None:
        """Store and publish a batch of chats through the meetings service: one insert, one
        commit (a database round trip per chat costs milliseconds on a busy event loop)."""
        items: list[tuple[Connection, meetings.Access, str]] = []
        for conn, content in batch:  # reads outside the transaction, which holds SQLite's lock
            try:
                items.append((conn, await self.chat_access(conn), content))
            except ApiError as exc:
                self.reply(conn, "error", {"code": exc.code, "message": exc.message})
        if not items:
            return
        try:
            await self._store_chats_once(items, bulk=True)
        except IntegrityError:  # another process took the same ids (SQLite, several workers)
            await self._store_chats_once(items, bulk=False)

    async def _store_chats_once(
        self, items: list[tuple[Connection, meetings.Access, str]], bulk: bool
    ) -> None:
        batch_state = _ChatBatch([], [])
        token = _chat_batch.set(batch_state)
        try:
            async with in_transaction() as db:
                if bulk:
                    results = await meetings.send_messages([(a, c) for _, a, c in items], db)
                else:
                    results = []
                    for _, acc, content in items:
                        try:
                            results.append(await meetings.send_message(acc, content))
                        except ApiError as exc:
                            results.append(exc)
                for (conn, _, _), result in zip(items, results, strict=True):
                    if isinstance(result, ApiError):
                        self.reply(conn, "error", {"code": result.code, "message": result.message})
                if batch_state.history:
                    await bulk_insert(batch_state.history, db)
        finally:
            _chat_batch.reset(token)
        for meeting_id, message, exclude in batch_state.outgoing:
            await self.hub.publish(meeting_id, message, exclude_session=exclude)

    async def _relay(self, conn: Connection, kind: str, message: dict, data: dict) -> None:
        target = message.get("to")
        session: Any = None
        local = self.hub.rooms.get(conn.meeting_id, {})
        if isinstance(target, str) and target in local:
            session = local[target]  # connected to this node: no database lookup
        elif type(target) is int and any(c.user_id == target for c in local.values()):
            session = target
        elif (isinstance(target, str) and target) or type(target) is int:
            session = await self._connected_peer(conn.meeting_id, target)
        if session is None:
            self.error(conn, NO_SUCH_PEER, f"{kind}: 'to' names no connected peer in this room")
            return
        envelope = self.envelope(
            kind, conn.meeting_id, conn.user_id, data, to=target, from_session=conn.session_id
        )
        if isinstance(target, str):
            await self.hub.publish(conn.meeting_id, envelope, to_session=target)
        else:
            await self.hub.publish(conn.meeting_id, envelope, to_user=target)

    async def _media_state(self, conn: Connection, data: dict) -> None:
        state = {
            k: data[k] for k in ("audio_enabled", "video_enabled", "screen_share") if k in data
        }
        if not state or not all(isinstance(v, bool) for v in state.values()):
            self.error(
                conn,
                INVALID_MESSAGE,
                "media-state: data needs audio_enabled, video_enabled or screen_share as booleans",
            )
            return
        await meetings.set_media_state(
            conn.meeting_id, conn.user_id, state.get("audio_enabled"), state.get("video_enabled")
        )
        await self.broadcast(
            conn.meeting_id,
            "media-state",
            conn.user_id,
            {"user_id": conn.user_id, "session_id": conn.session_id, **state},
            exclude=conn.session_id,
            keep=True,
        )

    # -- reactions to REST (events) ------------------------------------------------------

    async def on_event(self, event: Any) -> None:
        name, data = event.name, event.data
        if name == "chat.message" and event.node == self.node:
            # REST and WebSocket chat both arrive here: one path to the room, on every node.
            await self.broadcast(
                data["meeting_id"],
                "chat",
                data["user_id"],
                {
                    "message_id": data["message_id"],
                    "username": data["username"],
                    "content": data["content"],
                    "timestamp": data["timestamp"],
                },
                keep=True,
                session_id=None,
            )
        elif name == "participant.removed":
            await self._disconnect(
                data["meeting_id"],
                data["user_id"],
                CLOSE_REMOVED,
                "you were removed from the meeting",
            )
        elif name == "meeting.ended":
            await self._disconnect(
                data["meeting_id"], None, CLOSE_MEETING_ENDED, "the meeting has ended"
            )

    async def _disconnect(
        self, meeting_id: int, user_id: int | None, code: int, reason: str
    ) -> None:
        """Tell this node's matching connections why, then close them (no grace)."""
        for conn in self.hub.local(meeting_id, user_id):
            self.reply(conn, "error", {"code": code, "message": reason})
            await self.left(conn, reason)
            conn.close(code, reason)

    # -- REST views ----------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        conns = self.hub.all()
        return {
            "node": self.node,
            "connections": len(conns),
            "rooms": len(self.hub.rooms),
            "messages_received": self.hub.received,
            "messages_delivered": self.hub.delivered,
            "messages_per_second": self.hub.messages_per_second(),
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }


def session_shape(session: SignalingSession) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "peer_id": session.id,
        "meeting_id": session.meeting_id,
        "user_id": session.user_id,
        "status": session.status.value,
        "node": session.node,
        "user_agent": session.user_agent,
        "connected_at": iso(session.connected_at),
        "last_seen": iso(session.last_seen),
        "disconnected_at": iso(session.disconnected_at),
    }


def history_shape(row: SignalingMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "from": row.from_user,
        "session_id": row.session_id,
        "meeting_id": row.meeting_id,
        "data": row.data,
        "timestamp": iso(row.created_at),
    }


async def room_access(meeting_id: int, user: User) -> None:
    """Participants of the meeting and admins only."""
    acc = await meetings.access(meeting_id, user)
    acc.require(
        acc.admin or acc.participant is not None,
        "only participants of the meeting can see its sessions and history",
    )


async def send_to_room(
    meeting_id: int, kind: str, data: Any, *, exclude_session: str | None = None
) -> bool:
    """Send a server-originated message (`from` null) to everyone in a room, on every node.

    For other plugins (e.g. captions): `{"type": kind, "from": null, "meeting_id", "data", "id",
    "timestamp"}`. Answers False when this app's signaling is not running (nothing is sent).
    """
    signaling = current()
    if signaling is None:
        return False
    message = signaling.envelope(kind, meeting_id, None, data)
    await signaling.hub.publish(meeting_id, message, exclude_session=exclude_session)
    return True


def current() -> Signaling | None:
    """This app's signaling state (made by the plugin's startup hook)."""
    return current_app.extensions.get("signaling") if has_app_context() else None
