"""Events: `await bus.publish(name, **data)` reaches every plugin's `on_event` hook on every node.

Without Redis, delivery is local to the process. With `redis_url` set, each event also goes out on
Redis pub/sub and every other node hands it to its own `on_event` hooks. Plugins that need their
own cross-node channels (signaling rooms) use `subscribe(channel)` and `send(channel, message)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
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
        await asyncio.wait_for(ready.wait(), timeout=10)

    async def stop(self) -> None:
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
            await self._redis.publish(self.events_channel, json.dumps(asdict(event), default=str))
        await self._dispatch(event)
        return event

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
                    event = Event(**json.loads(message["data"]))
                except (TypeError, ValueError):
                    log.warning("ignored a malformed event on %s", self.events_channel)
                    continue
                if event.node != self.node:
                    await self._dispatch(event)
        finally:
            await pubsub.aclose()

    # -- channels for plugins ------------------------------------------------------------

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Send `message` to every subscriber of `channel` on every node."""
        if self._redis is not None:
            payload = json.dumps(message, default=str)
            await self._redis.publish(f"{self.prefix}ch:{channel}", payload)
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
                    if message.get("type") == "message":
                        yield json.loads(message["data"])

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


def _summary(data: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in data.items() if not isinstance(v, dict | list))[:300]
