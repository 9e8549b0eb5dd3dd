"""Live captions of meetings and their stored transcript.

When a meeting with `settings.enable_captions` has someone online, one node (a server, or a
media worker with `webrtc.bots_on = "workers"`) brings the meeting's media bot in (plugin
`webrtc`) and captions every remote audio track (`live.py`):
partial and final `caption` messages go to the room over signaling, finals are stored as
transcript segments. The bot leaves when the meeting ends, captions are switched off, or the
last participant leaves. Recognizers are plugins (hook `register_streaming_recognizers` of
the speech plugin); `captions.engine` picks one, `captions.language` the language.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from quart import current_app, has_app_context
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from kernel.api import ApiError, Role, User, get_platform, iso, public_url, publish
from plugins.captions.live import TrackCaptioner
from plugins.captions.models import CaptionRoom, TranscriptSegment
from plugins.meetings import service as meetings
from plugins.meetings.models import DEFAULT_SETTINGS, Meeting, Participant, ParticipantStatus
from plugins.signaling.service import send_to_room
from plugins.webrtc import service as webrtc

log = logging.getLogger("platform.captions")


# -- recognizers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recognizer:
    name: str
    open_stream: Any
    languages: tuple[str, ...] | None


def language() -> str:
    return str(get_platform().settings.get("captions.language") or "en")


def recognizers() -> list[Recognizer]:
    found: list[Recognizer] = []

    def register(name: str, open_stream: Any, languages: Any = ("en",)) -> None:
        langs = tuple(languages) if languages is not None else None
        found.append(Recognizer(name, open_stream, langs))

    platform = get_platform()
    platform.plugins.hook.register_streaming_recognizers(
        register=register, settings=platform.settings
    )
    return found


def pick(lang: str | None = None) -> Recognizer | None:
    """The configured recognizer (`captions.engine`, else the first) that speaks `lang`."""
    lang = (lang or language()).split("-")[0]
    preferred = get_platform().settings.get("captions.engine") or None
    for recognizer in recognizers():
        if (preferred is None or recognizer.name == preferred) and (
            recognizer.languages is None or lang in recognizer.languages
        ):
            return recognizer
    return None


def check_settings(given: dict[str, Any]) -> None:
    """Captions cannot be switched on without a recognizer for the configured language."""
    if given.get("enable_captions") and pick() is None:
        raise ApiError(
            422,
            f"settings.enable_captions: no streaming speech recognizer for {language()!r} "
            "is enabled on this server",
        )


# -- which node captions a meeting --------------------------------------------------------------


def stale_after() -> float:
    return float(get_platform().settings.get("captions.stale_after", 30))


def captions_here() -> bool:
    """Whether this node runs caption bots: the servers, or with `webrtc.bots_on = "workers"`
    the media workers (a server then asks them with the event `captions.wanted`)."""
    return get_platform().role == ("worker" if webrtc.bots_on_workers() else "server")


async def claim(meeting_id: int, node: str) -> bool:
    """Make `node` the one that captions the meeting, unless a live node already does."""
    now = datetime.now(UTC)
    try:
        await CaptionRoom.create(meeting_id=meeting_id, node=node, heartbeat_at=now)
        return True
    except IntegrityError:
        stale = now - timedelta(seconds=stale_after())
        taken = (
            await CaptionRoom.filter(meeting_id=meeting_id)
            .filter(Q(node=node) | Q(heartbeat_at__lt=stale))
            .update(node=node, heartbeat_at=now)
        )
        return bool(taken)


async def unclaim(meeting_id: int, node: str) -> None:
    await CaptionRoom.filter(meeting_id=meeting_id, node=node).delete()


# -- live captions ---------------------------------------------------------------------------


@dataclass
class RoomCaptions:
    meeting_id: int
    recognizer: Recognizer
    started: datetime
    bot: Any = None
    tracks: dict[int, tuple[TrackCaptioner, asyncio.Task]] = field(default_factory=dict)

    def consumer(self, peer: Any, track: Any) -> None:
        if track.kind != "audio":
            return

        async def emit(caption: dict[str, Any]) -> None:
            await deliver(self.meeting_id, peer.user_id, peer.session_id, caption)

        offset = (datetime.now(UTC) - self.started).total_seconds()
        captioner = TrackCaptioner(
            self.recognizer.open_stream, language(), emit, offset=max(offset, 0.0)
        )
        task = asyncio.create_task(
            captioner.run(track), name=f"captions-{self.meeting_id}-{peer.session_id}"
        )
        key = id(track)
        self.tracks[key] = (captioner, task)
        task.add_done_callback(lambda _: self.tracks.pop(key, None))


class Captions:
    """This node's captioned rooms."""

    def __init__(self) -> None:
        self.rooms: dict[int, RoomCaptions] = {}
        self.lock = asyncio.Lock()
        self.tasks: set[asyncio.Task] = set()
        self.heartbeat: asyncio.Task | None = None
        self.taking: set[int] = set()  # meetings of dead nodes being taken over
        # Where a worker's bot joins each meeting: the server's signaling URL, as its
        # `captions.wanted` said (a worker cannot tell from its own address).
        self.signaling_urls: dict[int, str] = {}

    def start(self) -> None:
        self.heartbeat = asyncio.create_task(self._beat(), name="captions-heartbeat")

    async def _beat(self) -> None:
        """Keep this node's claims fresh, and take over the meetings of a node that stopped
        confirming its own (it died): now, not when someone next joins."""
        platform = get_platform()
        while True:
            await asyncio.sleep(stale_after() / 4)
            try:
                await CaptionRoom.filter(
                    meeting_id__in=list(self.rooms), node=platform.node
                ).update(heartbeat_at=datetime.now(UTC))
                if captions_here():
                    await self.sweep(platform.node)
            except Exception:  # the database away for a moment: the next beat tries again
                log.warning("captions heartbeat failed", exc_info=True)

    async def sweep(self, node: str) -> None:
        """Caption the meetings whose node stopped confirming (claim() lets one node win),
        each in its own task so that a slow bot join never delays this node's heartbeat."""
        stale = datetime.now(UTC) - timedelta(seconds=stale_after())
        orphans = (
            await CaptionRoom.filter(heartbeat_at__lt=stale)
            .exclude(node=node)
            .values_list("meeting_id", "node")
        )
        for meeting_id, dead in orphans:
            if meeting_id not in self.taking:
                self.taking.add(meeting_id)
                self.spawn(self._take_over(meeting_id, dead, stale))

    async def _take_over(self, meeting_id: int, dead: str, stale: datetime) -> None:
        try:
            await self.ensure(meeting_id)
            if meeting_id in self.rooms:
                log.info("captions of meeting %s taken over from node %s", meeting_id, dead)
            else:  # it no longer wants captions (or got no bot): forget the dead node's claim
                await CaptionRoom.filter(
                    meeting_id=meeting_id, node=dead, heartbeat_at__lt=stale
                ).delete()
        finally:
            self.taking.discard(meeting_id)

    def spawn(self, coroutine: Any) -> None:
        """Run in the background: event handlers must not wait for a bot to join (the bot's
        own join publishes events too)."""
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stop(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        for task in list(self.tasks):
            task.cancel()
        for meeting_id in list(self.rooms):
            try:
                await self.leave(meeting_id, keep_claim=True)
            except Exception:  # shutting down: the bot may already be gone with webrtc
                log.exception("captions of meeting %s did not stop cleanly", meeting_id)

    async def ensure(self, meeting_id: int) -> None:
        """Caption the meeting if it wants captions and someone is in it: here, or on a media
        worker (`captions_here`)."""
        async with self.lock:
            if meeting_id in self.rooms:
                return
            meeting = await Meeting.get_or_none(id=meeting_id)
            if meeting is None or not await wanted(meeting):
                return
            recognizer = pick()
            if recognizer is None:
                log.warning("meeting %s wants captions: no streaming recognizer", meeting_id)
                return
            if not captions_here():
                await self.hand_to_workers(meeting_id)
                return
            node = get_platform().node
            if not await claim(meeting_id, node):
                return  # another node captions it (its bot hears everyone, on every node)
            room = RoomCaptions(meeting_id, recognizer, meeting.started_at or datetime.now(UTC))
            try:
                acc = await meetings.access(meeting_id, await host_of(meeting))
                signaling_url = self.signaling_urls.get(meeting_id) or public_url(
                    "/ws/signaling", websocket=True
                )
                room.bot = await webrtc.bots().acquire(acc, signaling_url)
            except Exception as exc:
                log.warning("captions of meeting %s: no media bot: %s", meeting_id, exc)
                await unclaim(meeting_id, node)
                return
            self.rooms[meeting_id] = room
            room.bot.subscribe(room.consumer)
            log.info("captions of meeting %s started (%s)", meeting_id, recognizer.name)

    async def hand_to_workers(self, meeting_id: int) -> None:
        """Ask the media workers to caption the meeting (claim() lets one win), and tell the
        operator when none has after `captions.claim_timeout` seconds."""
        await publish(
            "captions.wanted",
            meeting_id=meeting_id,
            signaling_url=public_url("/ws/signaling", websocket=True),
        )

        async def check() -> None:
            await asyncio.sleep(float(get_platform().settings.get("captions.claim_timeout", 10)))
            meeting = await Meeting.get_or_none(id=meeting_id)
            taken = await CaptionRoom.exists(meeting_id=meeting_id)
            if meeting is not None and not taken and await wanted(meeting):
                log.warning(
                    "captions of meeting %s: no media worker took them "
                    '(webrtc.bots_on is "workers": run `platform worker` nodes)',
                    meeting_id,
                )

        self.spawn(check())

    async def leave(self, meeting_id: int, *, keep_claim: bool = False) -> None:
        """Stop captioning the meeting here. `keep_claim` (this node is stopping): its claim
        stays, goes stale and another node's sweep takes the meeting over."""
        async with self.lock:
            room = self.rooms.pop(meeting_id, None)
            if room is None:
                return
            room.bot.unsubscribe(room.consumer)
            for _, task in list(room.tracks.values()):
                task.cancel()
            for _, task in list(room.tracks.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            try:
                await webrtc.bots().release(meeting_id)
            finally:
                if not keep_claim:
                    await unclaim(meeting_id, get_platform().node)
            log.info("captions of meeting %s stopped", meeting_id)

    async def review(self, meeting_id: int, here: bool) -> None:
        """After a change of settings or participants: stop if captions are no longer wanted;
        start if they are and it happened `here` (one node tries, not all)."""
        meeting = await Meeting.get_or_none(id=meeting_id)
        if meeting is None or not await wanted(meeting):
            await self.leave(meeting_id)
        elif here:
            await self.ensure(meeting_id)


async def wanted(meeting: Meeting) -> bool:
    """Captions on, the meeting not over, and someone besides the bot online."""
    if not (DEFAULT_SETTINGS | (meeting.settings or {})).get("enable_captions"):
        return False
    if meeting.status in meetings.CLOSED:
        return False
    return (
        await Participant.filter(meeting_id=meeting.id, status=ParticipantStatus.ONLINE)
        .exclude(user__username=webrtc.BOT_USERNAME)
        .exists()
    )


async def host_of(meeting: Meeting) -> User:
    """Someone whose access admits the bot: the host, else the creator, else an admin."""
    host = await Participant.filter(meeting_id=meeting.id, role="host").first()
    user = await User.get_or_none(id=host.user_id if host else meeting.creator_id)
    if user is None:
        user = await User.filter(role=Role.ADMIN).first()
    if user is None:
        raise RuntimeError(f"meeting {meeting.id} has no host to admit the media bot")
    return user


async def deliver(
    meeting_id: int, user_id: int | None, session_id: str, caption: dict[str, Any]
) -> None:
    """Send a caption to the room; store it when it is final."""
    data = {"user_id": user_id, "session_id": session_id, **caption}
    if caption["final"]:
        segment = await TranscriptSegment.create(
            meeting_id=meeting_id,
            user_id=user_id,
            session_id=session_id,
            text=caption["text"],
            start_seconds=caption["start"],
            end_seconds=caption["end"],
            language=language(),
            engine=get_platform().settings.get("captions.engine") or "",
        )
        data["segment_id"] = segment.id
    await send_to_room(meeting_id, "caption", data)


def captions() -> Captions:
    return current_app.extensions["captions"]


def running() -> bool:
    return has_app_context() and "captions" in current_app.extensions


async def on_event(event: Any) -> None:
    """Every node hears every event: the one that captions a meeting stops when it should,
    and the node where someone joined (or captions were switched on) tries to start."""
    name, data = event.name, event.data
    if "meeting_id" not in data:
        return
    meeting_id, here = int(data["meeting_id"]), event.node == get_platform().node
    if name == "captions.wanted":
        if captions_here():
            captions().signaling_urls[meeting_id] = str(data["signaling_url"])
            captions().spawn(captions().ensure(meeting_id))
        return
    if name in ("meeting.ended", "meeting.deleted"):
        captions().signaling_urls.pop(meeting_id, None)
        if meeting_id in captions().rooms:
            captions().spawn(captions().leave(meeting_id))
        return
    people = name in ("participant.joined", "participant.left", "participant.removed")
    settings = name == "meeting.updated" and "settings" in (data.get("fields") or [])
    if (people or settings) and (here or meeting_id in captions().rooms):
        captions().spawn(captions().review(meeting_id, here))


# -- the transcript -------------------------------------------------------------------------


async def readable(meeting_id: int, user: User) -> Meeting:
    """Participants of the meeting and admins only."""
    acc = await meetings.access(meeting_id, user)
    acc.require(
        acc.admin or acc.participant is not None,
        "only participants of the meeting can read its transcript",
    )
    return acc.meeting


def transcript_query(meeting_id: int) -> Any:
    return TranscriptSegment.filter(meeting_id=meeting_id).order_by("start_seconds", "id")


async def shapes(rows: list[TranscriptSegment]) -> list[dict[str, Any]]:
    ids = {r.user_id for r in rows if r.user_id is not None}
    names = {u.id: u.username for u in await User.filter(id__in=list(ids))} if ids else {}
    return [
        {
            "segment_id": r.id,
            "meeting_id": r.meeting_id,
            "user_id": r.user_id,
            "username": names.get(r.user_id) if r.user_id is not None else None,
            "session_id": r.session_id,
            "text": r.text,
            "start": r.start_seconds,
            "end": r.end_seconds,
            "language": r.language,
            "created_at": iso(r.created_at),
        }
        for r in rows
    ]


def timestamp(seconds: float) -> str:
    millis = round(max(seconds, 0.0) * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webvtt(segments: list[dict[str, Any]]) -> str:
    """WebVTT cues, one per segment, the speaker as a voice span (`<v name>`)."""
    lines = ["WEBVTT", ""]
    for number, segment in enumerate(segments, 1):
        start, end = float(segment["start"]), float(segment["end"])
        end = max(end, start + 0.001)  # a cue must end after it starts
        speaker = segment.get("username") or (
            f"user {segment['user_id']}" if segment.get("user_id") is not None else None
        )
        # Cue text must not contain a blank line or "-->"; speech text never should, but be sure.
        text = " ".join(_escape(segment["text"]).replace("-->", "→").split())
        if speaker:
            text = f"<v {_escape(speaker)}>{text}"
        lines += [str(number), f"{timestamp(start)} --> {timestamp(end)}", text, ""]
    return "\n".join(lines)
