"""The child-process side of a job: import the job's function, run it, report over a pipe.

A fresh process per job means a timeout can kill it, a crashing codec cannot take the server
down, and nothing leaks from one job into the next.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any

PROGRESS_INTERVAL = 0.25


def load_target(target: str) -> Any:
    module_name, _, qualname = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        value = getattr(value, part)
    return value


def _exit_with_parent(parent_pid: int) -> None:
    # A killed server must not leave its jobs running and writing files.
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(1)


def main(target: str, params: dict[str, Any], workdir: str, conn: Any, parent_pid: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    try:
        _run_reporting(conn, target, (params, Path(workdir)))
    finally:
        conn.close()


def host_main(loader: str, path: str, conn: Any, parent_pid: int) -> None:
    """A model host: load the model once, then run jobs on it until told to stop."""
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), daemon=True).start()
    try:
        started = time.monotonic()
        model = load_target(loader)(path)
        conn.send(("loaded", round(time.monotonic() - started, 3)))
    except BaseException as exc:
        conn.send(("error", str(exc) or type(exc).__name__, traceback.format_exc(limit=8)))
        conn.close()
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] != "run":
            return
        _, target, params, workdir = message
        _run_reporting(conn, target, (model, params, Path(workdir)))


def answer(model: Any, params: dict[str, Any], workdir: Path, progress: Any) -> dict[str, Any]:
    """The default health check of a model host: it answers, with its model in memory."""
    return {"model": type(model).__name__}


def _run_reporting(conn: Any, target: str, args: tuple) -> None:
    last = {"at": 0.0, "value": -1.0}

    def progress(value: float) -> None:
        now = time.monotonic()
        value = max(0.0, min(100.0, float(value)))
        if value > last["value"] and (now - last["at"] >= PROGRESS_INTERVAL or value >= 100):
            last.update(at=now, value=value)
            conn.send(("progress", value))

    try:
        result = load_target(target)(*args, progress)
        conn.send(("done", result or {}))
    except BaseException as exc:  # reported, not raised: the parent decides what it means
        message = str(exc) or type(exc).__name__
        conn.send(("error", message, traceback.format_exc(limit=8)))
