"""Queues that hand job ids to workers: in-process, or Redis Streams shared by every node.

The job row is the truth; a queue entry only says "job N is waiting". Taking an entry twice is
harmless (the claim in the database succeeds once), so re-enqueueing is always safe.

Redis: one stream per job kind (`platform:jobs:<kind>`) and one consumer group `workers`; each
node reads as its own consumer only the kinds it can run and only when it has a free slot, so
idle nodes take the work. An entry is acknowledged once its job is claimed; entries read by a
node that died before claiming are moved back by `reclaim()`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import redis.asyncio as aioredis

GROUP = "workers"
BLOCK_MS = 2000
Ack = Callable[[], Awaitable[None]]


class JobQueue(Protocol):
    async def put(self, kind: str, job_id: int) -> None: ...

    async def take(self, kinds: list[str]) -> tuple[int, Ack]: ...

    async def reclaim(self, kinds: list[str], idle_seconds: float) -> int: ...

    async def close(self) -> None: ...


async def _no_ack() -> None:
    return None


class MemoryQueue:
    """One process: an asyncio queue per kind."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[int]] = {}
        self._arrived = asyncio.Event()

    def _queue(self, kind: str) -> asyncio.Queue[int]:
        return self._queues.setdefault(kind, asyncio.Queue())

    async def put(self, kind: str, job_id: int) -> None:
        self._queue(kind).put_nowait(job_id)
        self._arrived.set()

    async def take(self, kinds: list[str]) -> tuple[int, Ack]:
        while True:
            for kind in kinds:
                queue = self._queue(kind)
                if not queue.empty():
                    return queue.get_nowait(), _no_ack
            self._arrived.clear()
            await self._arrived.wait()

    async def reclaim(self, kinds: list[str], idle_seconds: float) -> int:
        return 0

    async def close(self) -> None:
        return None


class RedisStreamQueue:
    """Every node: Redis Streams with one consumer group (XADD, XREADGROUP, XACK, XAUTOCLAIM)."""

    def __init__(self, url: str, consumer: str, prefix: str = "platform:jobs:") -> None:
        # The read timeout must outlast XREADGROUP's BLOCK.
        self._redis = aioredis.from_url(url, decode_responses=True, socket_timeout=BLOCK_MS / 500)
        self._consumer = consumer
        self._prefix = prefix
        self._groups: set[str] = set()

    async def _stream(self, kind: str) -> str:
        stream = self._prefix + kind
        if stream not in self._groups:
            with contextlib.suppress(aioredis.ResponseError):  # BUSYGROUP: it exists
                await self._redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            self._groups.add(stream)
        return stream

    async def put(self, kind: str, job_id: int) -> None:
        await self._redis.xadd(await self._stream(kind), {"job": str(job_id)})

    async def take(self, kinds: list[str]) -> tuple[int, Ack]:
        streams = {await self._stream(kind): ">" for kind in kinds}
        while True:
            answer = await self._redis.xreadgroup(
                GROUP, self._consumer, streams, count=1, block=BLOCK_MS
            )
            for stream, entries in answer or []:
                for entry_id, fields in entries:

                    async def ack(stream: str = stream, entry_id: str = entry_id) -> None:
                        await self._redis.xack(stream, GROUP, entry_id)

                    try:
                        return int(fields.get("job", "")), ack
                    except ValueError:
                        await ack()  # not ours: drop it rather than choke on it forever

    async def reclaim(self, kinds: list[str], idle_seconds: float) -> int:
        moved = 0
        for kind in kinds:
            stream = await self._stream(kind)
            _, entries, *_ = await self._redis.xautoclaim(
                stream, GROUP, self._consumer, min_idle_time=int(idle_seconds * 1000), count=100
            )
            for entry_id, fields in entries:
                if fields and "job" in fields:
                    await self._redis.xadd(stream, {"job": fields["job"]})
                await self._redis.xack(stream, GROUP, entry_id)
                moved += 1
        return moved

    async def close(self) -> None:
        await self._redis.aclose()
