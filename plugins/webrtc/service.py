"""Media bots of this node, one per meeting, shared by every plugin that needs the media.

`acquire` starts the meeting's bot (or counts one more user of it); `release` stops it when
its last user is done. Recording, streaming and live AI each acquire the same bot and
subscribe to its tracks, so a meeting is received once however many consumers there are.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from quart import current_app

from kernel.api import ApiError, User, get_platform, iso, public_url, publish
from plugins.meetings import service as meetings
from plugins.meetings.models import ParticipantRole
from plugins.webrtc.bot import MediaBot, Peer

log = logging.getLogger("platform.webrtc")
BOT_USERNAME = "media-bot"


class Bots:
    def __init__(self) -> None:
        self.bots: dict[int, MediaBot] = {}
        self.users: dict[int, int] = {}
        self._lock = asyncio.Lock()
        # Work handed to media workers (`hand_to_worker`), waiting for their answer.
        self.handed: dict[str, asyncio.Future] = {}
        self.background: set[asyncio.Task] = set()

    async def acquire(self, acc: Any, signaling_url: str) -> MediaBot:
        """The meeting's bot, started if needed; `acc` (a host's access) admits it."""
        await admit_bot(acc)
        return await self.acquire_admitted(acc.meeting.id, signaling_url)

    async def acquire_admitted(self, meeting_id: int, signaling_url: str) -> MediaBot:
        """The meeting's bot, started if needed, once `admit_bot` let it in (on any node)."""
        async with self._lock:
            bot = self.bots.get(meeting_id)
            if bot is None:
                bot_user = await bot_account()
                token, _ = get_platform().tokens.issue_access(bot_user.id, "user", "media-bot")
                bot = MediaBot(meeting_id, signaling_url, token)
                await bot.start()
                self.bots[meeting_id] = bot
            self.users[meeting_id] = self.users.get(meeting_id, 0) + 1
            return bot

    async def release(self, meeting_id: int) -> None:
        async with self._lock:
            self.users[meeting_id] = self.users.get(meeting_id, 1) - 1
            if self.users[meeting_id] > 0:
                return
            self.users.pop(meeting_id, None)
            bot = self.bots.pop(meeting_id, None)
        if bot is not None:
            await bot.stop()

    async def stop(self) -> None:
        for meeting_id in list(self.bots):
            self.users[meeting_id] = 1
            await self.release(meeting_id)


async def admit_bot(acc: Any) -> None:
    """Make the bot a participant of `acc`'s meeting (a host's or moderator's access)."""
    try:
        await meetings.add_participant(acc, (await bot_account()).id, ParticipantRole.PARTICIPANT)
    except ApiError as exc:
        if exc.status != 409:  # already a participant: fine
            raise


def bots_on_workers() -> bool:
    """Setting `webrtc.bots_on`: "server" (the node that got the request runs the meeting's
    bot) or "workers" (a `platform worker` node takes it, so media work leaves the servers)."""
    where = str(get_platform().settings.get("webrtc.bots_on", "server"))
    if where not in ("server", "workers"):
        raise ValueError(f'setting webrtc.bots_on is "{where}": use "server" or "workers"')
    return where == "workers"


def takes_handed_bots() -> bool:
    """Whether this node runs the bots that servers hand to workers."""
    return bots_on_workers() and get_platform().role == "worker"


async def hand_to_worker(
    acc: Any,
    what: str,
    request: str,
    data: dict[str, Any],
    unclaimed: Any,
    fail: Callable[[str], Awaitable[None]],
    claim_within: float,
) -> None:
    """Ask the media workers (`webrtc.bots_on = "workers"`) to take media work in `acc`'s meeting.

    Admits the bot, publishes the event `request` with `data` and `signaling_url`, and waits
    for a worker's `answer_handed(what, error)`. `unclaimed` is the query of the work's row
    while no worker has it (`node` None): when nobody claims it within `claim_within` s, its node
    becomes "-" so nobody can. Any failure is `fail(reason)`ed and answered 503.
    """
    try:
        await admit_bot(acc)
        error = await _handed_outcome(what, request, data, unclaimed, claim_within)
    except Exception as exc:
        error = exc.message if isinstance(exc, ApiError) else str(exc)
    if error:
        await fail(error)
        raise ApiError(503, f"{what.split()[0]} could not start: {error}")


async def _handed_outcome(
    what: str, request: str, data: dict[str, Any], unclaimed: Any, claim_within: float
) -> str | None:
    outcome = asyncio.get_running_loop().create_future()
    bots().handed[what] = outcome
    try:
        await publish(request, **data, signaling_url=public_url("/ws/signaling", websocket=True))
        try:
            async with asyncio.timeout(claim_within):
                return await asyncio.shield(outcome)
        except TimeoutError:
            if await unclaimed.update(node="-"):
                return (
                    f"no media worker took it within {claim_within:g} s "
                    '(webrtc.bots_on is "workers": run `platform worker` nodes)'
                )
        # Claimed: its bot is still joining. The worker's own join timeout and watchdog end
        # that, so answer with the work as it stands rather than wait without bound.
        try:
            async with asyncio.timeout(20):
                return await outcome
        except TimeoutError:
            return None
    finally:
        bots().handed.pop(what, None)


def answer_handed(what: str, error: str | None = None) -> None:
    """A worker started (error None) or failed the work handed over as `what`."""
    outcome = bots().handed.get(what)
    if outcome is not None and not outcome.done():
        outcome.set_result(error)


def take_handed(
    name: str,
    data: dict[str, Any],
    claim: Callable[[], Awaitable[bool]],
    start: Callable[[MediaBot], Awaitable[None]],
    fail: Callable[[str], Awaitable[None]],
) -> None:
    """On a worker, for a `hand_to_worker` request's `data`: `claim()` the work atomically (False:
    another worker has it), bring the bot in and `start(bot)`, or `fail(reason)`. Runs in the
    background: joining takes seconds, and the event listener must not wait for it."""

    async def take() -> None:
        try:
            if not await claim():
                return
            try:
                bot = await bots().acquire_admitted(int(data["meeting_id"]), data["signaling_url"])
            except Exception as exc:
                await fail(f"the media bot could not join the meeting: {exc}")
                return
            log.info("%s of meeting %s taken by this media worker", name, data["meeting_id"])
            await start(bot)
        except Exception:
            log.exception("%s: taking it over failed", name)

    task = asyncio.create_task(take(), name=name)
    bots().background.add(task)
    task.add_done_callback(bots().background.discard)


async def bot_account() -> User:
    """The deployment's bot user (it cannot log in: its password hash matches nothing)."""
    user, _ = await User.get_or_create(
        username=BOT_USERNAME,
        defaults={
            "email": "media-bot@localhost.invalid",
            "password_hash": f"!unusable!{secrets.token_hex(16)}",
            "nickname": "Recorder",
        },
    )
    return user


def bots() -> Bots:
    """This app's bots (made by the plugin's startup hook)."""
    return current_app.extensions["webrtc"]


async def room_access(meeting_id: int, user: User, *, manage: bool = False) -> Any:
    acc = await meetings.access(meeting_id, user)
    if manage:
        acc.require(acc.is_moderator, "only the host or a moderator changes peers' media")
    else:
        acc.require(acc.is_member, "only participants of the meeting see its peers")
    return acc


def find_peer(peer_id: str) -> tuple[MediaBot, Peer]:
    for bot in bots().bots.values():
        if peer_id in bot.peers:
            return bot, bot.peers[peer_id]
    raise ApiError(404, f"peer {peer_id} not found on this server")


def peer_rows(meeting_id: int, bot: MediaBot | None) -> list[dict[str, Any]]:
    rows = []
    for peer in bot.peers.values() if bot else []:
        # Before its tracks arrive, a peer is listed with both kinds the bot asked it for.
        for kind in sorted(peer.kinds) or ["audio", "video"]:
            rows.append(
                {
                    "peer_id": peer.session_id,
                    "room_id": meeting_id,
                    "user_id": peer.user_id,
                    "status": peer.status,
                    "peer_type": "subscriber",
                    "media_type": kind,
                    "muted": kind in peer.muted,
                    "connected_at": iso(peer.connected_at),
                }
            )
    return rows


async def peer_stats(peer: Peer) -> dict[str, Any]:
    report = await peer.pc.getStats()
    received = {"bytes": 0, "packets": 0, "lost": 0, "jitter": 0.0}
    for stat in report.values():
        kind = getattr(stat, "type", "")
        if kind == "transport":
            received["bytes"] += stat.bytesReceived or 0
        elif kind == "inbound-rtp":
            received["packets"] += stat.packetsReceived or 0
            received["lost"] += stat.packetsLost or 0
            received["jitter"] = max(received["jitter"], float(stat.jitter or 0))
    seconds = max((datetime.now(UTC) - peer.connected_at).total_seconds(), 1e-3)
    return {
        "peer_id": peer.session_id,
        "user_id": peer.user_id,
        "status": peer.status,
        "bitrate": int(received["bytes"] * 8 / seconds),
        "bytes_received": received["bytes"],
        "packets_received": received["packets"],
        "packets_lost": received["lost"],
        "jitter": received["jitter"],
    }
