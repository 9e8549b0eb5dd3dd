"""The static files of the web client, read from the package and kept in memory."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
AREAS = ("app", "sdk")
# Plain file names only: no folders, no hidden files, nothing the file system could choke on.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


@cache
def _load(path: Path) -> Asset:
    body = path.read_bytes()
    return Asset(body, CONTENT_TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:20])


def find(area: str, name: str) -> Asset | None:
    """The file `name` of `area` (app or sdk), or None: only plain files directly in it."""
    if area not in AREAS or not FILE_NAME.fullmatch(name):
        return None
    path = STATIC / area / name
    if path.suffix not in CONTENT_TYPES or not path.is_file():
        return None
    return _load(path)
