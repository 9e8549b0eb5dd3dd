"""Request bodies: per-route size limits, streamed reading with backpressure, streamed multipart.

Quart buffers a request body for the handler and keeps reading from the socket however far the
handler is behind, so a large upload read chunk by chunk could still fill memory. Here the
connection stops reading once a streaming reader has `HIGH_WATER` bytes waiting, which lets TCP
flow control slow the client down; a handler that awaits the whole body is not held back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from quart import Quart, current_app, request
from quart.asgi import ASGIHTTPConnection
from quart.wrappers.request import Body
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from kernel.errors import ApiError

HIGH_WATER = 1024 * 1024
MAX_PARTS = 32
MAX_PART_HEADER = 2 * HIGH_WATER


class StreamedBody(Body):
    """A Body that holds its producer back while a streaming reader has `HIGH_WATER` unread.

    The size limit is judged when the body is read, not when data arrives, so a route can
    still raise it in `before_request` (see `body_limit`).
    """

    def __init__(self, expected_content_length: int | None, max_content_length: int | None):
        # Quart would refuse (and drop the data of) a too-long Content-Length right here, before
        # a route had a chance to raise the limit: judge it when the body is read instead.
        super().__init__(expected_content_length, None)
        self._max_content_length = max_content_length
        self._expected = expected_content_length
        self._room = asyncio.Event()
        self._room.set()
        self._whole = False
        self._received = 0

    def _over_limit(self, size: int) -> bool:
        return self._max_content_length is not None and size > self._max_content_length

    def __await__(self) -> Any:
        self._whole = True  # the reader wants everything at once: never hold the producer
        self._room.set()
        if self._must_raise is None and (
            self._over_limit(len(self._data)) or self._over_limit(self._expected or 0)
        ):
            self._must_raise = RequestEntityTooLarge()
        return super().__await__()

    async def __anext__(self) -> bytes:
        if self._over_limit(self._expected or 0):
            raise RequestEntityTooLarge()
        try:
            data = await super().__anext__()
        finally:
            self._room.set()
        if self._over_limit(self._received):
            raise RequestEntityTooLarge()
        return data

    def append(self, data: bytes) -> None:
        if data == b"" or self._must_raise is not None:
            return
        self._data.extend(data)
        self._received += len(data)
        self._has_data.set()
        if self._whole:
            if self._over_limit(len(self._data)):
                self._must_raise = RequestEntityTooLarge()
                self.set_complete()
        elif len(self._data) >= HIGH_WATER:
            self._room.clear()

    def set_complete(self) -> None:
        super().set_complete()
        self._room.set()

    async def wait_for_room(self) -> None:
        await self._room.wait()

    def raise_limit(self, limit: int) -> None:
        """Allow `limit` bytes for this request (a route that takes more than the default)."""
        self._max_content_length = limit


class BackpressureConnection(ASGIHTTPConnection):
    async def handle_messages(self, request: Any, receive: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.request":
                request.body.append(message.get("body", b""))
                if not message.get("more_body", False):
                    request.body.set_complete()
                    continue
                if isinstance(request.body, StreamedBody):
                    await request.body.wait_for_room()
            elif message["type"] == "http.disconnect":
                return


def body_limit(setting: str | int) -> Callable:
    """Let a route accept bodies up to `setting` bytes (an int, or the name of a setting)."""

    def decorate(view: Callable) -> Callable:
        view.body_limit = setting
        return view

    return decorate


def route_body_limit() -> int | None:
    view = current_app.view_functions.get(request.endpoint or "")
    setting = getattr(view, "body_limit", None)
    if setting is None:
        return None
    if isinstance(setting, int):
        return setting
    return int(current_app.extensions["platform"].settings.get(setting))


def install(app: Quart) -> None:
    app.request_class.body_class = StreamedBody  # the app's own class (kernel.inputs)
    app.asgi_http_class = BackpressureConnection

    @app.before_request
    async def apply_route_body_limit() -> None:
        limit = route_body_limit()
        if limit is not None and isinstance(request.body, StreamedBody):
            request.body.raise_limit(limit)


async def iter_body(*, limit: int, field: str = "body") -> AsyncIterator[bytes]:
    """The request body chunk by chunk; 413 past `limit` bytes, 408 when the client stalls."""
    timeout = current_app.config["BODY_TIMEOUT"]
    received = 0
    body = aiter(request.body)
    while True:
        try:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as a
            # chunk does, and a request cancelled because its client left then waits
            # BODY_TIMEOUT for a body that never comes (its partial upload kept meanwhile).
            async with asyncio.timeout(timeout):
                chunk = await anext(body)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, f"{field}: no data received for {timeout} s") from None
        except RequestEntityTooLarge:
            raise ApiError(413, f"{field}: larger than {limit} bytes") from None
        received += len(chunk)
        if received > limit:
            raise ApiError(413, f"{field}: larger than {limit} bytes")
        yield chunk


class FormPart:
    """One part of a multipart body: a field (`filename` None) or a file, read as it arrives."""

    def __init__(self, name: str, filename: str | None, content_type: str | None, events: Any):
        self.name = name
        self.filename = filename
        self.content_type = content_type
        self._events = events
        self._done = False

    async def chunks(self) -> AsyncIterator[bytes]:
        while not self._done:
            event = await anext(self._events)
            if not isinstance(event, Data):
                raise ApiError(400, f"{self.name}: malformed multipart body")
            self._done = not event.more_data
            if event.data:
                yield event.data

    async def read(self, limit: int) -> bytes:
        data = bytearray()
        async for chunk in self.chunks():
            data += chunk
            if len(data) > limit:
                raise ApiError(422, f"{self.name}: longer than {limit} bytes")
        return bytes(data)

    async def skip(self) -> None:
        async for _ in self.chunks():
            pass


async def _multipart_events(decoder: MultipartDecoder, chunks: AsyncIterator[bytes]) -> Any:
    async for chunk in chunks:
        decoder.receive_data(chunk)
        while not isinstance(event := _next_event(decoder), NeedData):
            yield event
            if isinstance(event, Epilogue):
                return
        if len(decoder.buffer) > MAX_PART_HEADER:
            # File data passes straight through; only headers or a preamble pile up here.
            raise ApiError(400, "body: malformed multipart body (no part boundary found)")
    decoder.receive_data(None)
    while not isinstance(event := _next_event(decoder), NeedData):
        yield event
        if isinstance(event, Epilogue):
            return
    raise ApiError(400, "body: the multipart body ended early")


def _next_event(decoder: MultipartDecoder) -> Any:
    try:
        return decoder.next_event()
    except RequestEntityTooLarge:
        raise ApiError(413, f"body: more than {MAX_PARTS} parts") from None
    except ValueError as exc:
        raise ApiError(400, f"body: malformed multipart body ({exc})") from None


async def stream_form(*, limit: int) -> AsyncIterator[FormPart]:
    """The parts of a `multipart/form-data` request in order, without buffering files.

    Read (or `skip()`) each part before asking for the next; a part left unread is skipped.
    """
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary:
        raise ApiError(415, "body: expected multipart/form-data with a boundary")
    decoder = MultipartDecoder(boundary.encode("latin-1"), max_parts=MAX_PARTS)
    events = _multipart_events(decoder, iter_body(limit=limit))
    async for event in events:
        if isinstance(event, File):
            content_type = event.headers.get("Content-Type")
            part = FormPart(event.name, event.filename or "", content_type, events)
        elif isinstance(event, Field):
            part = FormPart(event.name, None, None, events)
        else:
            continue
        yield part
        if not part._done:
            await part.skip()
