"""Events: `await bus.publish(name, **data)` reaches every plugin's `on_event` hook on every node.

Without Redis, delivery is local to the process. With `redis_url` set, each event also goes out on
Redis pub/sub and every other node hands it to its own `on_event` hooks. Plugins that need their
own cross-node channels (signaling rooms) use `subscribe(channel)` and `send(channel, message)`.

Nothing waits for Redis: what goes to the other nodes is queued, in order, and one publisher
task sends everything queued meanwhile in one pipeline; neighbouring messages to one channel
travel as one `{"batch": [...]}` message, which subscribers never see. A chat burst then costs
one round trip and one decode per node, not one per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from kernel.errors import now_iso

log = logging.getLogger("platform.events")


def channel_prefix(redis_url: str) -> str:
    """`platform:<db>:`, because Redis pub/sub ignores the database number: deployments (or
    test runs) sharing one Redis server on different databases must not hear each other."""
    from redis.connection import parse_url

    return f"platform:{parse_url(redis_url).get('db', 0)}:"


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]
    node: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: str = field(default_factory=now_iso)


class EventBus:
    def __init__(self, hook: Any, node: str, redis_url: str | None = None) -> None:
        self._hook = hook
        self.node = node
        self.redis_url = redis_url or None
        self._redis: aioredis.Redis | None = None
        self._listener: asyncio.Task | None = None
        self._local: dict[str, set[asyncio.Queue]] = {}
        self.prefix = channel_prefix(redis_url) if redis_url else "platform:"
        self.events_channel = f"{self.prefix}events"
        self._outbox: deque[tuple[str, str]] = deque()  # (Redis channel, message), in order
        self._wake: asyncio.Event = asyncio.Event()
        self._publisher: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> None:
        if not self.redis_url:
            return
        self._redis = aioredis.from_url(self.redis_url, decode_responses=True)
        try:
            await self._redis.ping()
        except (aioredis.RedisError, OSError) as exc:
            await self._redis.aclose()
            self._redis = None
            raise ConnectionError(f"redis_url {self.redis_url}: cannot connect: {exc}") from exc
        ready = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(ready), name="platform-events")
        async with asyncio.timeout(10):
            await ready.wait()
        self._publisher = asyncio.create_task(self._publish_loop(), name="platform-events-out")

    async def stop(self) -> None:
        if self._publisher:
            self._stopping = True  # it sends what is queued, then ends
            self._wake.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(5):
                    await self._publisher
            self._publisher = None
        if self._listener:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        if self._redis:
            await self._redis.aclose()
            self._redis = None

    async def publish(self, name: str, **data: Any) -> Event:
        """Deliver an event to local hooks now and to the other nodes through Redis."""
        event = Event(name=name, data=data, node=self.node)
        log.info("event %s %s", name, _summary(data))
        if self._redis is not None:
            self._queue(self.events_channel, json.dumps(_event_dict(event), default=str))
        await self._dispatch(event)
        return event

    def _queue(self, channel: str, message: str) -> None:
        self._outbox.append((channel, message))
        self._wake.set()

    async def _publish_loop(self) -> None:
        assert self._redis is not None
        while self._outbox or not self._stopping:
            await self._wake.wait()
            self._wake.clear()
            if not self._outbox:
                continue
            items = list(self._outbox)
            self._outbox.clear()
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for channel, message in _batched(items, self.events_channel):
                        pipe.publish(channel, message)
                    await pipe.execute()
            except Exception:  # Redis away: these miss the other nodes, not the next ones
                log.warning("Redis: %d messages to the other nodes lost", len(items), exc_info=True)

    async def _dispatch(self, event: Event) -> None:
        for impl in reversed(self._hook.on_event.get_hookimpls()):
            try:
                result = impl.function(event=event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                # One plugin's failing handler must not stop delivery to the others.
                log.exception("plugin %r failed handling event %s", impl.plugin_name, event.name)

    async def _listen(self, ready: asyncio.Event) -> None:
        assert self._redis is not None
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.events_channel)
        ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    decoded = json.loads(message["data"])
                    batch = decoded.get("batch", [decoded])
                    events = [Event(**item) for item in batch]
                except (TypeError, ValueError, KeyError):
                    log.warning("ignored a malformed event on %s", self.events_channel)
                    continue
                for event in events:
                    if event.node != self.node:
                        await self._dispatch(event)
        finally:
            await pubsub.aclose()

    # -- channels for plugins ------------------------------------------------------------

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send `message` to every subscriber of `channel` on every node."""
        if self._redis is not None:
            self._queue(f"{self.prefix}ch:{channel}", json.dumps(message, default=str))
            return
        for queue in list(self._local.get(channel, ())):
            queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """`async with bus.subscribe("room:42") as messages: async for m in messages: ...`"""
        if self._redis is not None:
            pubsub = self._redis.pubsub()
            await pubsub.subscribe(f"{self.prefix}ch:{channel}")

            async def remote() -> AsyncIterator[dict[str, Any]]:
                async for message in pubsub.listen():
                    if message.get("type") == "message":  # always a batch (see _batched)
                        for item in json.loads(message["data"])["batch"]:
                            yield item

            try:
                yield remote()
            finally:
                await pubsub.aclose()
            return
        queue: asyncio.Queue = asyncio.Queue()
        self._local.setdefault(channel, set()).add(queue)

        async def local() -> AsyncIterator[dict[str, Any]]:
            while True:
                yield await queue.get()

        try:
            yield local()
        finally:
            self._local[channel].discard(queue)
            if not self._local[channel]:
                del self._local[channel]

    async def ping(self) -> None:
        if self._redis is not None:
            await self._redis.ping()


def _event_dict(event: Event) -> dict[str, Any]:
    # dataclasses.asdict deep-copies `data`: a measurable cost at chat rates.
    return {
        "name": event.name,
        "data": event.data,
        "node": event.node,
        "id": event.id,
        "timestamp": event.timestamp,
    }


def _batched(items: list[tuple[str, str]], events_channel: str) -> list[tuple[str, str]]:
    """Runs of messages to one channel, next to each other, become one `{"batch": [...]}`
    message (a lone event goes as it is); the order of everything stays as queued."""
    runs: list[tuple[str, list[str]]] = []
    for channel, message in items:
        if runs and runs[-1][0] == channel:
            runs[-1][1].append(message)
        else:
            runs.append((channel, [message]))
    return [
        (channel, run[0] if channel == events_channel and len(run) == 1 else _batch(run))
        for channel, run in runs
    ]


def _batch(messages: list[str]) -> str:
    return '{"batch":[' + ",".join(messages) + "]}"


# What people wrote (a chat, a caption) stays out of the server's log: operators read it.
_PRIVATE = frozenset({"content", "text", "message", "description", "password"})


def _summary(data: dict[str, Any]) -> str:
    return " ".join(
        f"{k}={v}" for k, v in data.items() if k not in _PRIVATE and not isinstance(v, dict | list)
    )[:300]
