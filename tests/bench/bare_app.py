"""A bare Quart "hello" app: the baseline the platform's throughput is compared with.

Served by tests/bench/bench_http.py as `python -m tests.bench.bare_app --port P` (from the repo
root), with the same hypercorn settings as `platform serve` with one worker (cli/main.py): a
Config() with one bind address, the access and error logs going to the "platform.access" and
"platform.server" loggers at the same level, graceful_timeout 5, and hypercorn.asyncio.serve.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from quart import Quart

app = Quart("bench_bare")


@app.get("/")
@app.get("/<path:_path>")
async def hello(_path: str = "") -> dict[str, str]:
    """A small JSON dict for any GET path; no auth, no database."""
    return {"message": "hello", "status": "ok"}


def main() -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()

    # As kernel.app.configure_logging does for the platform.
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = Config()
    config.bind = [f"[{args.host}]:{args.port}" if ":" in args.host else f"{args.host}:{args.port}"]
    config.accesslog = logging.getLogger("platform.access")
    config.errorlog = logging.getLogger("platform.server")
    config.graceful_timeout = 5
    print(f"serving on http://{args.host}:{args.port}", flush=True)
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
