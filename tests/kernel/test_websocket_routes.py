"""Raw ASGI WebSocket routes (hook register_websocket_routes): served ahead of Quart, in the
app context, refusing with the API's envelope; the rest of the app is untouched."""

from __future__ import annotations

import json

import pytest
from quart import Blueprint, current_app
from quart.testing import WebsocketResponseError

from kernel.api import (
    deny_websocket,
    hookimpl,
    ok,
    public_url,
    websocket_args,
    websocket_header,
)
from kernel.app import create_app
from kernel.plugins import PluginError


async def echo(scope, receive, send):
    """Echo with the app's node name; `?refuse=1` is refused before accepting."""
    args = websocket_args(scope)
    if args.get("refuse"):
        await deny_websocket(scope, send, 403, "not you", 2999)
        return
    await send({"type": "websocket.accept"})
    node = current_app.extensions["platform"].node  # the app context is there
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message["type"] == "websocket.receive":
            text = message.get("text") or ""
            if text == "bye":
                await send({"type": "websocket.close", "code": 4000, "reason": "bye"})
                return
            reply = {"echo": text, "node": node, "agent": websocket_header(scope, "User-Agent")}
            if text == "url":  # no request context here: the connection's address serves
                reply = {"url": public_url("/ws/echo", websocket=True)}
            await send({"type": "websocket.send", "text": json.dumps(reply)})


class RawPlugin:
    plugin_name = "raw"

    @hookimpl
    def register_websocket_routes(self, register):
        register("/ws/echo", echo)

    @hookimpl
    def register_blueprints(self, register):
        bp = Blueprint("raw", __name__)

        @bp.websocket("/ws/quart")
        async def quart_socket():
            from quart import websocket

            await websocket.accept()
            await websocket.send("from quart")

        @bp.get("/raw/plain")
        async def plain():
            return ok({"served": "by quart"})

        register(bp)


async def test_raw_route_is_served_with_the_app_context(make_client):
    async with make_client(extra_plugins=[RawPlugin()]) as client:
        node = client.app.extensions["platform"].node
        async with client.websocket("/ws/echo", headers={"User-Agent": "probe/1"}) as ws:
            await ws.send("hello")
            assert json.loads(await ws.receive()) == {
                "echo": "hello",
                "node": node,
                "agent": "probe/1",
            }
            await ws.send("url")
            assert json.loads(await ws.receive()) == {"url": "ws://localhost/ws/echo"}
            await ws.send("bye")
            with pytest.raises(Exception) as closed:
                await ws.receive()
            assert "4000" in repr(closed.value)
        # Everything else still goes to Quart: HTTP routes and Quart WebSocket routes.
        response = await client.get("/raw/plain")
        assert (await response.get_json())["data"] == {"served": "by quart"}
        async with client.websocket("/ws/quart") as ws:
            assert await ws.receive() == "from quart"


async def test_a_refusal_is_an_envelope_with_the_request_id(make_client):
    async with make_client(extra_plugins=[RawPlugin()]) as client:
        with pytest.raises(WebsocketResponseError) as caught:
            async with client.websocket(
                "/ws/echo?refuse=1", headers={"X-Request-ID": "trace-ws.1"}
            ) as ws:
                await ws.receive()
        response = caught.value.response
        body = json.loads(await response.get_data())
        assert response.status_code == 403
        assert body["code"] == 2999 and body["message"] == "not you"
        assert body["request_id"] == "trace-ws.1" == response.headers["X-Request-ID"]
        assert body["timestamp"].endswith("Z")


def test_bad_or_duplicate_routes_name_the_plugin(settings_for):
    class Twice:
        plugin_name = "twice"

        @hookimpl
        def register_websocket_routes(self, register):
            register("/ws/echo", echo)

    class Relative:
        plugin_name = "relative"

        @hookimpl
        def register_websocket_routes(self, register):
            register("ws/echo", echo)

    with pytest.raises(PluginError, match="is already served") as caught:
        create_app(settings_for(), plugins=[RawPlugin(), Twice()])
    assert "'raw'" in str(caught.value) and "'twice'" in str(caught.value)
    with pytest.raises(PluginError, match=r"relative.*must start with '/'"):
        create_app(settings_for(), plugins=[Relative()])
