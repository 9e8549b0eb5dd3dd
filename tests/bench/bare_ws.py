"""A bare WebSocket relay: the baseline the signaling plugin's fan-out is compared with.

Served by tests/bench/bench_signaling.py as `python -m tests.bench.bare_ws --port P` (from the
repo root). One asyncio `websockets` server, one room, no auth, no database:

- on connect, the client gets `{"type": "hello", "id": "<its id>"}` (the stand-in for room-info);
- every received text message is parsed as JSON (as the platform does); a message with a string
  `to` goes to that client only (the stand-in for a relayed `offer`), any other message goes
  as received to every other connected client (`websockets.broadcast`);
- GET /health answers 200 (readiness probe); anything else that is not a WebSocket: 426.

Compression is whatever the client offers (as with hypercorn, which accepts permessage-deflate).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import signal
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.http11 import Request, Response

clients: dict[str, ServerConnection] = {}
_ids = itertools.count(1)


def health(connection: ServerConnection, request: Request) -> Response | None:
    if request.path == "/health":
        return connection.respond(HTTPStatus.OK, "ok\n")
    return None


async def handler(ws: ServerConnection) -> None:
    client_id = f"c{next(_ids)}"
    clients[client_id] = ws
    try:
        await ws.send(json.dumps({"type": "hello", "id": client_id}))
        async for raw in ws:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            target = message.get("to") if isinstance(message, dict) else None
            if isinstance(target, str):
                peer = clients.get(target)
                if peer is not None:
                    broadcast([peer], raw)
            else:
                broadcast([c for cid, c in clients.items() if cid != client_id], raw)
    finally:
        clients.pop(client_id, None)


async def main_async(host: str, port: int) -> None:
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    async with serve(handler, host, port, process_request=health, ping_interval=None):
        print(f"serving on ws://{host}:{port}", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main_async(args.host, args.port))


if __name__ == "__main__":
    main()
