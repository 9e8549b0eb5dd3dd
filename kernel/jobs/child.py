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
    last = {"at": 0.0, "value": -1.0}

    def progress(value: float) -> None:
        now = time.monotonic()
        value = max(0.0, min(100.0, float(value)))
        if value > last["value"] and (now - last["at"] >= PROGRESS_INTERVAL or value >= 100):
            last.update(at=now, value=value)
            conn.send(("progress", value))

    try:
        result = load_target(target)(params, Path(workdir), progress)
        conn.send(("done", result or {}))
    except BaseException as exc:  # reported, not raised: the parent decides what it means
        message = str(exc) or type(exc).__name__
        conn.send(("error", message, traceback.format_exc(limit=8)))
    finally:
        conn.close()
