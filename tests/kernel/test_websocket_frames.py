"""accept_websocket on a real hypercorn server: compression declined unless asked for, and
ready-made frames written straight to the socket arrive intact at a real client."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import websockets
from hypercorn.asyncio import serve
from hypercorn.config import Config

from kernel.api import WebsocketOut, accept_websocket, text_frame, websocket_args
from tests.conftest import free_port

# Sizes around the frame header's three length encodings (7 bits, 16 bits, 64 bits).
TEXTS = ["", "a" * 125, "é" * 63, "b" * 126, "c" * 65535, "ü" * 40000]


class FrameApp:
    """`?compression=1` accepts deflate; `?abort=1` drops the connection after one frame."""

    def __init__(self) -> None:
        self.outs: list[WebsocketOut] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        args = websocket_args(scope)
        await receive()  # websocket.connect
        out = await accept_websocket(send, compression=args.get("compression") == "1")
        self.outs.append(out)
        if args.get("abort"):
            out.write(text_frame("last words"))
            out.abort()
        elif out.direct:
            out.write(b"".join(text_frame(t) for t in TEXTS))
            await out.close(4001, "done")
        else:
            for text in TEXTS:
                await out.send_text(text)
            await out.close(4001, "done")
        while (await receive())["type"] != "websocket.disconnect":
            pass


@pytest.fixture
async def server():
    app = FrameApp()
    config = Config()
    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))
    for _ in range(100):
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        await asyncio.sleep(0.05)
    yield app, f"ws://127.0.0.1:{port}/"
    stop.set()
    await asyncio.wait_for(task, 10)


async def received(url: str) -> tuple[list[str], int, str | None]:
    # The client offers permessage-deflate, as browsers do.
    async with websockets.connect(url, compression="deflate", max_size=None) as ws:
        extensions = ws.response.headers.get("sec-websocket-extensions")
        texts = []
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                texts.append(await asyncio.wait_for(ws.recv(), 5))
    return texts, ws.close_code, extensions


async def test_compression_is_declined_and_frames_go_straight_to_the_socket(server):
    app, url = server
    texts, code, extensions = await received(url)
    assert extensions is None  # declined although offered
    assert app.outs[0].direct
    assert texts == TEXTS
    assert code == 4001  # the server's close frame came after the written frames


async def test_compression_when_asked_for_goes_through_the_server(server):
    app, url = server
    texts, code, extensions = await received(url + "?compression=1")
    assert extensions and extensions.startswith("permessage-deflate")
    assert not app.outs[0].direct  # deflated frames are the server's to make
    assert texts == TEXTS and code == 4001


async def test_abort_drops_the_connection_at_once(server):
    _, url = server
    async with websockets.connect(url + "?abort=1") as ws:
        first = await asyncio.wait_for(ws.recv(), 5)
        with pytest.raises(websockets.ConnectionClosedError):
            await asyncio.wait_for(ws.recv(), 5)
    assert first == "last words"
    assert ws.close_code == 1006  # no closing handshake: the TCP connection was cut


def test_other_servers_get_no_direct_writes():
    async def not_hypercorn(message):
        sent.append(message)

    sent: list = []
    out = asyncio.run(accept_websocket(not_hypercorn, "bearer"))
    assert not out.direct
    assert sent == [{"type": "websocket.accept", "subprotocol": "bearer"}]
