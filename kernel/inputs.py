"""What a client can send, read strictly: JSON bodies, WebSocket messages and ids in paths.

Whatever passes here can be stored: no invalid UTF-8, no NaN or Infinity, no string holding half
of a surrogate pair (neither SQLite nor PostgreSQL can encode one), no id larger than an id
column holds. Anything else is the client's mistake and answers 4xx, never 500.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import Field
from quart.wrappers import Request
from werkzeug.routing import IntegerConverter

# The largest id a primary key holds: tortoise's IntField is a 32-bit integer on PostgreSQL.
MAX_ID = 2**31 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def parse_id(text: str | None) -> int | None:
    """An id written as text (a query parameter, a form field): ASCII digits from 1 to MAX_ID,
    else None. `int()` alone would also take " 7", "1_000", "-7" and Unicode digits."""
    if not text or not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    number = int(text)
    return number if 1 <= number <= MAX_ID else None


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(data: str | bytes) -> Any:
    """JSON as the API takes it; ValueError (with the reason) for anything else."""
    text = data.decode() if isinstance(data, bytes) else data  # UnicodeDecodeError: ValueError
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None
    # Only a \\uD800-\\uDFFF escape can smuggle in half a pair: check the value only then.
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise ValueError("a \\u escape is half of a surrogate pair") from None
    return value


class PlatformRequest(Request):
    """Quart's Request, reading JSON bodies with `parse_json`."""

    async def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if cache and self._cached_json[silent] is not Ellipsis:
            return self._cached_json[silent]
        if not (force or self.is_json):
            return None
        data = await self.get_data(cache=cache, as_text=False)
        try:
            result = parse_json(data)
        except ValueError as error:
            result = None if silent else self.on_json_loading_failed(error)
        if cache:
            self._cached_json[silent] = result
        return result


class IdConverter(IntegerConverter):
    """`<int:...>` in routes. An id beyond MAX_ID names no row but would overflow the database
    driver: it reaches the handler as 0, which names no row either, so the plugin answers with
    its own not-found (and business code)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        return number if number <= MAX_ID else 0
