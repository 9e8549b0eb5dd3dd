"""The SDK outside a browser: Node (>= 18: fetch) imports it as a plain ES module."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

SDK = Path(__file__).resolve().parents[3] / "plugins/webclient/static/sdk/meeting-platform.js"
SCRIPT = """
import { ApiError, MeetingPlatform } from %(sdk)s;
const api = new MeetingPlatform({ baseUrl: %(base)s });
await api.register({ username: "nod", email: "nod@example.com", password: "secret-pass" });
const user = await api.login("nod", "secret-pass");
const profile = await api.users.profile();
let missing = null;
try {
  await api.meetings.get(424242);
} catch (err) {
  missing = { isApiError: err instanceof ApiError, status: err.status, code: err.code,
              message: err.message, requestId: err.requestId };
}
console.log(JSON.stringify({ user, profile, missing }));
"""


def test_node_imports_the_sdk_and_calls_a_real_server(
    start_server: Any, web_env: dict, tmp_path: Path
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the browser tests cover the SDK")
    server = start_server(**web_env)
    script = tmp_path / "client.mjs"
    script.write_text(SCRIPT % {"sdk": json.dumps(SDK.as_uri()), "base": json.dumps(server.url)})
    done = subprocess.run(
        [node, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["user"]["username"] == "nod"
    assert result["profile"]["email"] == "nod@example.com"
    missing = result["missing"]
    assert missing["isApiError"] and (missing["status"], missing["code"]) == (404, 2001)
    assert missing["requestId"] and "424242" in missing["message"]
