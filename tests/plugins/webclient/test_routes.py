"""The web client's files: content types, caching, 404 envelopes, enable/disable."""

from __future__ import annotations

from typing import Any

PLUGINS = {"enabled": ["users", "webclient"]}


async def test_app_and_sdk_files_are_served_with_types_and_revalidation(make_client: Any) -> None:
    async with make_client(plugins=PLUGINS) as client:
        index = await client.get("/")
        assert index.status_code == 200
        assert index.headers["Content-Type"] == "text/html; charset=utf-8"
        assert index.headers["Cache-Control"] == "no-cache"
        assert '<script type="module" src="/app/app.js">' in await index.get_data(as_text=True)
        expected = {
            "/app/app.js": "text/javascript; charset=utf-8",
            "/app/app.css": "text/css; charset=utf-8",
            "/app/index.html": "text/html; charset=utf-8",
            "/sdk/meeting-platform.js": "text/javascript; charset=utf-8",
            "/sdk/package.json": "application/json",
        }
        for path, content_type in expected.items():
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["Content-Type"] == content_type, path
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        sdk = await client.get("/sdk/meeting-platform.js")
        etag = sdk.headers["ETag"]
        again = await client.get("/sdk/meeting-platform.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert await again.get_data() == b""
        other = await client.get("/sdk/meeting-platform.js", headers={"If-None-Match": '"x"'})
        assert other.status_code == 200


async def test_unknown_files_answer_the_404_envelope(make_client: Any) -> None:
    async with make_client(plugins=PLUGINS) as client:
        for path in (
            "/app/nothing.js",
            "/sdk/missing.js",
            "/app/../sdk/package.json",
            "/app/%2e%2e%2fservice.py",
            "/sdk/.hidden.js",
            "/app/README",
            "/app/a%00.js",
            "/sdk/" + "x" * 300 + ".js",
            "/app/%C3%A9.js",
        ):
            response = await client.get(path)
            assert response.status_code == 404, path
            body = await response.get_json()
            assert body["code"] == 404
            assert body["request_id"] == response.headers["X-Request-ID"]
            assert body["message"]


async def test_a_disabled_webclient_serves_nothing(make_client: Any) -> None:
    async with make_client(plugins={"enabled": ["users"]}) as client:
        assert (await client.get("/")).status_code == 404
        assert (await client.get("/sdk/meeting-platform.js")).status_code == 404
    async with make_client(plugins={"enabled": "*", "disabled": ["webclient"]}) as client:
        assert (await client.get("/app/app.js")).status_code == 404
