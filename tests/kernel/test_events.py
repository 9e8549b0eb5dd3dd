"""Events reach every plugin's on_event hook, locally and across nodes through Redis."""

from __future__ import annotations

import asyncio

import pluggy
import pytest

from kernel import hookspecs
from kernel.api import hookimpl, publish
from kernel.events import EventBus


class Recorder:
    def __init__(self, name: str = "recorder") -> None:
        self.plugin_name = name
        self.events: list = []
        self.arrived = asyncio.Event()

    @hookimpl
    async def on_event(self, event):
        self.events.append(event)
        self.arrived.set()


class Crasher:
    plugin_name = "crasher"

    @hookimpl
    def on_event(self, event):
        raise RuntimeError("handler bug")


def hook_with(*plugins):
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm.hook


async def test_publish_reaches_local_hooks_even_when_one_fails(make_client):
    recorder = Recorder()
    async with make_client(extra_plugins=[Crasher(), recorder]) as client:
        async with client.app.app_context():
            event = await publish("meeting.started", meeting_id=7)
        await client.post(
            "/api/v1/auth/register",
            json={"username": "eve", "email": "eve@example.com", "password": "password-1"},
        )
    names = [e.name for e in recorder.events]
    assert names == ["meeting.started", "user.registered"]
    assert recorder.events[0].data == {"meeting_id": 7}
    assert recorder.events[0].id == event.id and recorder.events[0].node == event.node


async def test_events_cross_nodes_through_redis(redis_url):
    on_a, on_b = Recorder("a"), Recorder("b")
    node_a = EventBus(hook_with(on_a), "node-a", redis_url)
    node_b = EventBus(hook_with(on_b), "node-b", redis_url)
    await node_a.start()
    await node_b.start()
    try:
        await node_a.publish("participant.removed", meeting_id=1, user_id=2)
        await asyncio.wait_for(on_b.arrived.wait(), timeout=5)
        await asyncio.sleep(0.2)  # would a duplicate arrive on the publishing node?
    finally:
        await node_a.stop()
        await node_b.stop()
    assert [(e.name, e.node, e.data) for e in on_b.events] == [
        ("participant.removed", "node-a", {"meeting_id": 1, "user_id": 2})
    ]
    assert [e.name for e in on_a.events] == ["participant.removed"]  # once, not twice


@pytest.fixture(params=["memory", "redis"])
async def two_buses(request):
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    first = EventBus(hook_with(), "n1", url)
    # Without Redis a channel is per process: both "nodes" share one bus.
    second = EventBus(hook_with(), "n2", url) if url else first
    await first.start()
    if second is not first:
        await second.start()
    yield first, second
    await first.stop()
    await second.stop()


async def test_channels_deliver_to_subscribers(two_buses):
    sender, receiver = two_buses
    received: list = []
    subscribed = asyncio.Event()

    async def listen():
        async with receiver.subscribe("room:42") as messages:
            subscribed.set()
            async for message in messages:
                received.append(message)
                if len(received) == 2:
                    return

    task = asyncio.create_task(listen())
    await asyncio.wait_for(subscribed.wait(), timeout=5)
    await sender.send("room:41", {"type": "other room"})
    await sender.send("room:42", {"type": "chat", "n": 1})
    await sender.send("room:42", {"type": "chat", "n": 2})
    await asyncio.wait_for(task, timeout=5)
    assert received == [{"type": "chat", "n": 1}, {"type": "chat", "n": 2}]
    assert "room:42" not in sender._local  # the subscription is gone after the block


async def test_deployments_on_other_redis_databases_do_not_hear_each_other(redis_url):
    # Redis pub/sub ignores the database number; the channel names must not.
    other_url = redis_url.rsplit("/", 1)[0] + "/15"
    on_ours, on_theirs = Recorder("ours"), Recorder("theirs")
    ours = EventBus(hook_with(on_ours), "node-a", redis_url)
    theirs = EventBus(hook_with(on_theirs), "node-b", other_url)
    peer = EventBus(hook_with(), "node-c", redis_url)
    for bus in (ours, theirs, peer):
        await bus.start()
    try:
        await peer.publish("meeting.ended", meeting_id=1)
        await asyncio.wait_for(on_ours.arrived.wait(), timeout=5)
        await asyncio.sleep(0.2)
    finally:
        for bus in (ours, theirs, peer):
            await bus.stop()
    assert [e.name for e in on_ours.events] == ["meeting.ended"]
    assert on_theirs.events == []


async def test_a_burst_reaches_other_nodes_in_order_with_channel_messages(redis_url):
    # Nothing waits for Redis: a burst goes out in one pipeline, events batched together,
    # and the other node still sees events and channel messages in the order they were made.
    on_b = Recorder("b")
    node_a = EventBus(hook_with(), "node-a", redis_url)
    node_b = EventBus(hook_with(on_b), "node-b", redis_url)
    await node_a.start()
    await node_b.start()
    seen: list = []
    subscribed = asyncio.Event()

    async def listen():
        async with node_b.subscribe("room:7") as messages:
            subscribed.set()
            async for message in messages:
                seen.append(("channel", message["n"], len(on_b.events)))
                if message["n"] == 2:
                    return

    task = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(subscribed.wait(), timeout=5)
        for n in range(50):
            await node_a.publish("chat.message", n=n)
        await node_a.send("room:7", {"n": 1})
        for n in range(50, 60):
            await node_a.publish("chat.message", n=n)
        await node_a.send("room:7", {"n": 2})
        await asyncio.wait_for(task, timeout=5)
        while len(on_b.events) < 60:
            on_b.arrived.clear()
            await asyncio.wait_for(on_b.arrived.wait(), timeout=5)
    finally:
        await node_a.stop()
        await node_b.stop()
    assert [e.data["n"] for e in on_b.events] == list(range(60))
    # The channel message sent after event 49 arrived after it (events run in one listener,
    # channels in another: "after" means at least the events published before it).
    assert seen[0][:2] == ("channel", 1) and seen[1][:2] == ("channel", 2)


async def test_stop_sends_what_is_queued(redis_url):
    on_b = Recorder("b")
    node_a = EventBus(hook_with(), "node-a", redis_url)
    node_b = EventBus(hook_with(on_b), "node-b", redis_url)
    await node_a.start()
    await node_b.start()
    try:
        for n in range(20):
            await node_a.publish("meeting.updated", n=n)
        await node_a.stop()  # at once: the publisher has not run yet
        while len(on_b.events) < 20:
            on_b.arrived.clear()
            await asyncio.wait_for(on_b.arrived.wait(), timeout=5)
    finally:
        await node_b.stop()
    assert [e.data["n"] for e in on_b.events] == list(range(20))


async def test_a_malformed_batch_is_ignored_and_the_next_event_still_arrives(redis_url):
    import redis.asyncio as aioredis

    on_b = Recorder("b")
    node_b = EventBus(hook_with(on_b), "node-b", redis_url)
    await node_b.start()
    raw = aioredis.from_url(redis_url)
    try:
        await raw.publish(node_b.events_channel, '{"batch": [{"name": "x"}]}')
        await raw.publish(node_b.events_channel, "not json")
        node_a = EventBus(hook_with(), "node-a", redis_url)
        await node_a.start()
        await node_a.publish("meeting.ended", meeting_id=3)
        await node_a.stop()
        await asyncio.wait_for(on_b.arrived.wait(), timeout=5)
    finally:
        await raw.aclose()
        await node_b.stop()
    assert [e.name for e in on_b.events] == ["meeting.ended"]


async def test_the_event_log_names_things_but_not_what_people_wrote(make_client, caplog):
    async with make_client() as client, client.app.app_context():
        with caplog.at_level("INFO", logger="platform.events"):
            await publish("chat.message", message_id=5, username="eve", content="my secret plan")
    logged = caplog.text
    assert "chat.message" in logged and "message_id=5" in logged and "username=eve" in logged
    assert "secret" not in logged
