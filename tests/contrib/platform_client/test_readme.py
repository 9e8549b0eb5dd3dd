"""The package README's example runs as written against a real server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.contrib.platform_client.conftest import REST_PLUGINS

README = Path(__file__).parents[3] / "contrib" / "platform-client" / "README.md"


async def test_the_readme_example_works(start_server: Any, connect: Any, make_media: Any) -> None:
    server = start_server(
        PLATFORM_PLUGINS__ENABLED=REST_PLUGINS, PLATFORM_RATELIMIT__ENABLED="false"
    )
    await connect(server, "alice")
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    example: dict[str, Any] = {"__name__": "readme"}
    exec(compile(code, str(README), "exec"), example)
    clip = make_media("clip.mp4", seconds=3.0)
    answer = await example["main"](server.url, "alice", "secret-pass", str(clip))
    assert answer == "hello from the bot"
