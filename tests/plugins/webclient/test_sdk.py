"""The JavaScript SDK, run in real Chromium against a real server: tokens, errors, reconnects."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets

# Loads the SDK into the page and wraps fetch so a test sees every request and its answer.
SETUP = """async () => {
  const sdk = await import("/sdk/meeting-platform.js");
  window.sdk = sdk;
  window.calls = [];
  window.logged = (input, init) => fetch(input, init).then((response) => {
    const path = new URL(input, location.href).pathname;
    window.calls.push({ method: init.method, path, status: response.status,
                        requestId: response.headers.get("X-Request-ID") });
    return response;
  });
  window.api = new sdk.MeetingPlatform({ fetch: window.logged });
}"""


class DroppingProxy:
    """A TCP proxy in front of the server that can cut every connection at once (an RST)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.connections = 0
        self.refusing = False

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.refusing:  # the network is still down
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.links.append((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def drop(self) -> None:
        for client, upstream in self.links:
            client.transport.abort()
            upstream.transport.abort()
        self.links.clear()

    async def stop(self) -> None:
        self.drop()
        self.server.close()
        await self.server.wait_closed()


async def account(base: str, name: str) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        body = {"username": name, "email": f"{name}@example.com", "password": "secret-pass"}
        assert (await http.post("/api/v1/auth/register", json=body)).status_code == 201
        login = await http.post(
            "/api/v1/auth/login", json={"username": name, "password": body["password"]}
        )
        return login.json()["data"]["token"]


async def meeting_of(base: str, token: str, title: str) -> int:
    start = datetime.now(UTC) + timedelta(minutes=1)
    async with httpx.AsyncClient(base_url=base) as http:
        created = await http.post(
            "/api/v1/meetings",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "title": title,
                "start_time": start.isoformat(),
                "end_time": (start + timedelta(hours=1)).isoformat(),
                "max_participants": 5,
            },
        )
    return created.json()["data"]["meeting_id"]


async def sdk_page(browser: Any, base: str) -> Any:
    context = await browser.new_context(base_url=base)
    page = await context.new_page()
    page.on("pageerror", lambda exc: print(f"page error: {exc}"))
    await page.goto("/")
    await page.evaluate(SETUP)
    return page


async def test_tokens_are_refreshed_before_expiry_and_once_after_a_401(
    browser: Any, start_server: Any, web_env: dict
) -> None:
    server = start_server(PLATFORM_AUTH__ACCESS_TOKEN_TTL="2", **web_env)
    await account(server.url, "tia")
    page = await sdk_page(browser, server.url)
    result = await page.evaluate(
        """async () => {
      await api.login("tia", "secret-pass");
      const first = api.token;
      await new Promise((resolve) => setTimeout(resolve, 2500)); // the access token has expired
      calls.length = 0;
      const [a, b] = await Promise.all([api.users.profile(), api.users.profile()]);
      return { first, second: api.token, names: [a.username, b.username], calls };
    }"""
    )
    assert result["names"] == ["tia", "tia"]
    assert result["second"] != result["first"]
    # One refresh for both calls, before them: nobody was refused.
    assert [(c["path"], c["status"]) for c in result["calls"]] == [
        ("/api/v1/auth/refresh", 200),
        ("/api/v1/users/profile", 200),
        ("/api/v1/users/profile", 200),
    ]

    # A token the server refuses although the client took it for fresh (clock skew): one 401,
    # a refresh, one retry.
    retried = await page.evaluate(
        """async () => {
      await new Promise((resolve) => setTimeout(resolve, 2500));
      api.expiresAt = Date.now() + 3600 * 1000;
      calls.length = 0;
      const profile = await api.users.profile();
      return { name: profile.username, calls };
    }"""
    )
    assert retried["name"] == "tia"
    assert [(c["path"], c["status"]) for c in retried["calls"]] == [
        ("/api/v1/users/profile", 401),
        ("/api/v1/auth/refresh", 200),
        ("/api/v1/users/profile", 200),
    ]

    # Refused again after the refresh: the error comes out, no loop.
    refused = await page.evaluate(
        """async () => {
      api.token = "not-a-token";
      api.refreshToken = "not-a-refresh-token";
      calls.length = 0;
      try {
        await api.users.profile();
        return null;
      } catch (err) {
        const { name, status, code } = err;
        return { name, status, code, loggedIn: api.loggedIn, calls };
      }
    }"""
    )
    assert refused is not None
    assert (refused["name"], refused["status"], refused["code"]) == ("ApiError", 401, 401)
    assert refused["loggedIn"] is False  # a dead refresh token ends the local session
    assert [(c["path"], c["status"]) for c in refused["calls"]] == [
        ("/api/v1/users/profile", 401),
        ("/api/v1/auth/refresh", 401),
    ]
    await page.context.close()


async def test_errors_carry_code_message_and_request_id(
    browser: Any, start_server: Any, web_env: dict
) -> None:
    server = start_server(**web_env)
    await account(server.url, "eve")
    page = await sdk_page(browser, server.url)
    errors = await page.evaluate(
        """async () => {
      const caught = async (work) => {
        try {
          await work();
          return null;
        } catch (err) {
          const call = calls[calls.length - 1];
          return { isApiError: err instanceof sdk.ApiError, status: err.status, code: err.code,
                   message: err.message, requestId: err.requestId, header: call && call.requestId };
        }
      };
      await api.login("eve", "secret-pass");
      const again = { username: "eve", email: "x@example.com", password: "secret-pass" };
      const stranger = new sdk.MeetingPlatform({ fetch: logged });
      const offline = new sdk.MeetingPlatform({ baseUrl: "http://127.0.0.1:9" });
      return {
        missing: await caught(() => api.meetings.get(999999)),
        invalid: await caught(() => api.meetings.create({ title: "" })),
        taken: await caught(() => api.register(again)),
        password: await caught(() => stranger.login("eve", "wrong-pass")),
        network: await caught(() => offline.login("a", "b")),
        loggedOut: await (async () => {
          const refreshToken = api.refreshToken;
          await api.logout();
          const after = await caught(() => api.users.profile());
          stranger.refreshToken = refreshToken; // the dead login's refresh token
          return { loggedIn: api.loggedIn, after, refresh: await caught(() => stranger.refresh()) };
        })(),
      };
    }"""
    )
    missing = errors["missing"]
    assert missing["isApiError"] and (missing["status"], missing["code"]) == (404, 2001)
    assert missing["requestId"] and missing["requestId"] == missing["header"]
    assert "999999" in missing["message"]
    invalid = errors["invalid"]
    assert (invalid["status"], invalid["code"]) == (422, 422)
    assert "title" in invalid["message"]
    assert (errors["taken"]["status"], errors["taken"]["code"]) == (409, 1001)
    assert (errors["password"]["status"], errors["password"]["code"]) == (401, 1004)
    assert errors["network"]["isApiError"] and errors["network"]["status"] == 0
    assert errors["network"]["requestId"] is None
    logged_out = errors["loggedOut"]
    assert logged_out["loggedIn"] is False
    assert logged_out["after"]["status"] == 401
    assert logged_out["refresh"]["status"] == 401  # the server ended the login too
    await page.context.close()


async def test_signaling_reconnects_and_resumes_its_session_after_a_dropped_socket(
    browser: Any, start_server: Any, web_env: dict
) -> None:
    server = start_server(**web_env)
    await account(server.url, "rey")
    watcher_token = await account(server.url, "wes")
    async with httpx.AsyncClient(base_url=server.url) as http:
        login = {"username": "rey", "password": "secret-pass"}
        token = (await http.post("/api/v1/auth/login", json=login)).json()["data"]["token"]
    meeting_id = await meeting_of(server.url, token, "resume")
    proxy = DroppingProxy(server.port)
    proxy_port = await proxy.start()
    ws_base = server.url.replace("http://", "ws://")
    # Someone else in the room sees what the others see.
    watcher = await websockets.connect(
        f"{ws_base}/ws/signaling?meeting_id={meeting_id}&token={watcher_token}"
    )
    seen: list[dict] = []

    async def watch() -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in watcher:
                seen.append(json.loads(raw))

    watching = asyncio.create_task(watch())
    page = await sdk_page(browser, server.url)
    try:
        first = await page.evaluate(
            """async ([meetingId, url]) => {
          await api.login("rey", "secret-pass");
          window.client = api.signaling(meetingId, { url });
          window.events = [];
          for (const type of ["reconnecting", "reconnected", "closed", "chat"]) {
            client.addEventListener(type, (e) => events.push({ type, detail: e.detail }));
          }
          const info = await client.connect();
          return info.session_id;
        }""",
            [meeting_id, f"ws://127.0.0.1:{proxy_port}/ws/signaling"],
        )
        joined = [m for m in seen if m["type"] == "user-joined"]
        for _ in range(100):
            joined = [m for m in seen if m["type"] == "user-joined"]
            if joined:
                break
            await asyncio.sleep(0.05)
        assert [m["data"]["session_id"] for m in joined] == [first]

        proxy.drop()  # the network cuts the socket: no close frame either way
        await page.wait_for_function(
            "() => events.some((e) => e.type === 'reconnected')", timeout=20_000
        )
        state = await page.evaluate(
            """() => ({ sessionId: client.sessionId, resumed: client.roomInfo.resumed,
                       reconnects: client.reconnects, types: events.map((e) => e.type) })"""
        )
        assert state["sessionId"] == first
        assert state["resumed"] is True
        assert state["reconnects"] == 1
        assert state["types"][0] == "reconnecting"
        assert "closed" not in state["types"]
        assert proxy.connections == 2

        # The resumed session talks as before; the room never saw it leave or join again.
        await page.evaluate("() => client.chat('still here')")
        for _ in range(100):
            if any(m["type"] == "chat" for m in seen):
                break
            await asyncio.sleep(0.05)
        chats = [m for m in seen if m["type"] == "chat"]
        assert [m["data"]["content"] for m in chats] == ["still here"]
        assert [m["type"] for m in seen if m["type"] in ("user-left", "user-joined")] == [
            "user-joined"
        ]
        await page.evaluate("() => client.leave()")
        for _ in range(100):
            if any(m["type"] == "user-left" for m in seen):
                break
            await asyncio.sleep(0.05)
        left = [m["data"] for m in seen if m["type"] == "user-left"]
        assert [(d["session_id"], d["reason"]) for d in left] == [(first, "left")]
    finally:
        await page.context.close()
        await watcher.close()
        watching.cancel()
        await proxy.stop()


async def test_a_three_way_mesh_connects_although_every_pair_offers_at_once(
    browser: Any, start_server: Any, web_env: dict
) -> None:
    server = start_server(**web_env)
    names = ["gia", "gus", "gil"]
    for name in names:
        await account(server.url, name)
    context = await browser.new_context(base_url=server.url, permissions=["camera", "microphone"])
    page = await context.new_page()
    page.on("pageerror", lambda exc: print(f"page error: {exc}"))
    await page.goto("/")
    await page.evaluate(SETUP)
    await page.evaluate(
        """async (names) => {
      const apis = names.map(() => new sdk.MeetingPlatform());
      for (const [i, name] of names.entries()) await apis[i].login(name, "secret-pass");
      const start = new Date(Date.now() + 60000);
      const meeting = await apis[0].meetings.create({
        title: "glare", max_participants: 5, start_time: start.toISOString(),
        end_time: new Date(start.getTime() + 3600000).toISOString(),
      });
      window.offers = [];
      window.clients = [];
      for (const [i, api] of apis.entries()) {
        const client = api.signaling(meeting.meeting_id);
        const send = client.send.bind(client);
        client.send = (type, data, to) => {
          if (type === "offer") offers.push([client.sessionId, to]);
          send(type, data, to);
        };
        await client.connect();
        client.person = { session_id: client.sessionId, user_id: api.user.user_id,
                          username: api.user.username };
        clients.push(client);
      }
      const streams = [];
      for (const _ of clients) {
        streams.push(await navigator.mediaDevices.getUserMedia({ audio: true, video: true }));
      }
      // Everyone calls everyone in the same tick: every pair's offers collide.
      window.meshes = clients.map(
        (client, i) => new sdk.MeshCall(client, { localStream: streams[i] }),
      );
      meshes.forEach((mesh, i) => {
        for (const other of clients) if (other !== clients[i]) mesh.call(other.person);
      });
    }""",
        names,
    )
    # Every connection is up and decodes the other side's video (checked every 300 ms in the
    # page: wait_for_function cannot await getStats itself).
    await page.evaluate(
        """() => {
      const check = async () => {
        for (const mesh of meshes) {
          if (mesh.peers.size !== 2) return false;
          for (const peer of mesh.peers.values()) {
            if (peer.pc.connectionState !== "connected") return false;
            let frames = 0;
            (await peer.pc.getStats()).forEach((r) => {
              if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
            });
            if (!frames) return false;
          }
        }
        return true;
      };
      window.meshUp = false;
      const timer = setInterval(async () => {
        if (await check()) {
          window.meshUp = true;
          clearInterval(timer);
        }
      }, 300);
    }"""
    )
    await page.wait_for_function("() => window.meshUp", timeout=45_000)
    result = await page.evaluate(
        """() => ({
      sessions: clients.map((c) => c.sessionId),
      peers: meshes.map((m) => [...m.peers.keys()].sort()),
      offers,
    })"""
    )
    sessions = result["sessions"]
    for index, peers in enumerate(result["peers"]):
        assert peers == sorted(s for s in sessions if s != sessions[index])
    # Both sides of every pair offered first: the collisions were real and resolved.
    offered = {tuple(pair) for pair in result["offers"]}
    for a in sessions:
        for b in sessions:
            if a != b:
                assert (a, b) in offered
    await context.close()


async def test_signaling_back_after_the_grace_gets_a_new_session_and_says_so(
    browser: Any, start_server: Any, web_env: dict
) -> None:
    server = start_server(PLATFORM_SIGNALING__RECONNECT_GRACE="1", **web_env)
    token = await account(server.url, "liz")
    meeting_id = await meeting_of(server.url, token, "grace")
    proxy = DroppingProxy(server.port)
    proxy_port = await proxy.start()
    page = await sdk_page(browser, server.url)
    try:
        first = await page.evaluate(
            """async ([meetingId, url]) => {
          await api.login("liz", "secret-pass");
          window.client = api.signaling(meetingId, { url, maxDelay: 500 });
          window.events = [];
          for (const type of ["reconnecting", "reconnected", "closed", "room-info"]) {
            client.addEventListener(type, (e) => events.push({ type, detail: e.detail }));
          }
          return (await client.connect()).session_id;
        }""",
            [meeting_id, f"ws://127.0.0.1:{proxy_port}/ws/signaling"],
        )
        proxy.refusing = True
        proxy.drop()
        async with httpx.AsyncClient(base_url=server.url) as http:
            # The server gives the session up after its grace (1 s) ...
            for _ in range(200):
                sessions = await http.get(
                    f"/api/v1/sessions/{first}", headers={"Authorization": f"Bearer {token}"}
                )
                if sessions.json()["data"]["status"] == "disconnected":
                    break
                await asyncio.sleep(0.05)
            assert sessions.json()["data"]["status"] == "disconnected"
        proxy.refusing = False  # ... and then the network comes back.
        await page.wait_for_function(
            "() => events.filter((e) => e.type === 'room-info').length === 2", timeout=20_000
        )
        state = await page.evaluate(
            """() => ({ sessionId: client.sessionId, resumed: client.roomInfo.resumed,
                       types: events.map((e) => e.type) })"""
        )
        assert state["sessionId"] != first
        assert state["resumed"] is False
        assert "reconnected" not in state["types"] and "closed" not in state["types"]
        assert state["types"].count("reconnecting") >= 2  # refused attempts were retried
    finally:
        await page.context.close()
        await proxy.stop()


async def test_a_lost_offer_is_sent_again_and_the_call_connects(
    browser: Any, start_server: Any, web_env: dict
) -> None:
    server = start_server(**web_env)
    for name in ("lou", "lia"):
        await account(server.url, name)
    context = await browser.new_context(base_url=server.url, permissions=["camera", "microphone"])
    page = await context.new_page()
    page.on("pageerror", lambda exc: print(f"page error: {exc}"))
    await page.goto("/")
    await page.evaluate(SETUP)
    await page.evaluate(
        """async () => {
      const apis = [new sdk.MeetingPlatform(), new sdk.MeetingPlatform()];
      await apis[0].login("lou", "secret-pass");
      await apis[1].login("lia", "secret-pass");
      const start = new Date(Date.now() + 60000);
      const meeting = await apis[0].meetings.create({
        title: "lossy", max_participants: 5, start_time: start.toISOString(),
        end_time: new Date(start.getTime() + 3600000).toISOString(),
      });
      window.offersSent = 0;
      const clients = [];
      for (const api of apis) {
        const client = api.signaling(meeting.meeting_id);
        await client.connect();
        clients.push(client);
      }
      // The caller's first offer never reaches the other side (a socket drop would do that).
      const send = clients[0].send.bind(clients[0]);
      clients[0].send = (type, data, to) => {
        if (type === "offer" && ++offersSent === 1) return;
        send(type, data, to);
      };
      const streams = [];
      for (const _ of clients) {
        streams.push(await navigator.mediaDevices.getUserMedia({ audio: true, video: true }));
      }
      // Only the caller offers (the callee treats it as receive-only): its lost first offer
      // can only be made good by the caller's watchdog.
      window.meshes = [
        new sdk.MeshCall(clients[0], { localStream: streams[0], connectTimeout: 1500 }),
        new sdk.MeshCall(clients[1], { localStream: streams[1], receiveOnly: () => true }),
      ];
      const callee = { session_id: clients[1].sessionId, user_id: apis[1].user.user_id,
                       username: "lia" };
      meshes[0].call(callee);
    }"""
    )
    await page.wait_for_function(
        """() => meshes.every((m) => m.peers.size === 1 &&
             [...m.peers.values()].every((p) => p.pc.connectionState === "connected"))""",
        polling=200,
        timeout=30_000,
    )
    assert await page.evaluate("() => offersSent") >= 2  # the first was lost, then sent again
    await context.close()
