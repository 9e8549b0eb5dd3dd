"""Live streaming of a real call: HLS served by the platform, RTMP pushed to a local listener.

The RTMP server is the one true external edge here: a PyAV/FFmpeg listener (`listen=1`) in a
thread of the test plays it, as a streaming service would.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import av
import pytest

SMALL = {"PLATFORM_STREAMING__WIDTH": "640", "PLATFORM_STREAMING__HEIGHT": "360"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def call(server: Any, call_on: Any) -> tuple[Any, dict, list]:
    meeting = call_on(server.url)
    host = await meeting.person("hana")
    await meeting.person("gus")
    await meeting.create("hana")
    clients = [
        meeting.client("hana", 440.0, (200, 30, 30)),
        meeting.client("gus", 1000.0, (30, 30, 200)),
    ]
    for client in clients:
        await client.start()
    return meeting, host, clients


async def start_hls(meeting: Any, host: dict) -> dict:
    started = await meeting.http.post(
        "/api/v1/streaming/start",
        headers=host,
        json={"meeting_id": meeting.meeting_id, "protocol": "hls"},
    )
    assert started.status_code == 201, started.text
    return started.json()["data"]


async def wait_for_segments(meeting: Any, playback_url: str, count: int = 2) -> str:
    """The HLS playlist once it lists `count` segments (or as it is after 20 s)."""
    playlist = ""
    for _ in range(200):
        response = await meeting.http.get(playback_url)
        playlist = response.text if response.status_code == 200 else ""
        if playlist.count(".ts") >= count:
            break
        await asyncio.sleep(0.1)
    return playlist


async def test_hls_playlist_appears_segments_decode_and_stop_ends_it(
    start_server: Any, call_env: dict, call_on: Any, tmp_path: Path
) -> None:
    env = {**call_env, **SMALL}
    server = start_server(**env)
    meeting, host, clients = await call(server, call_on)
    try:
        stream = await start_hls(meeting, host)
        assert stream["playback_url"].endswith(f"/hls/{stream['stream_id']}/index.m3u8")
        playlist = await wait_for_segments(meeting, stream["playback_url"])
        assert playlist.count(".ts") >= 2, playlist
        first = next(line for line in playlist.splitlines() if line.endswith(".ts"))
        segment = await meeting.http.get(stream["playback_url"].replace("index.m3u8", first))
        path = tmp_path / "segment.ts"
        path.write_bytes(segment.content)
        with av.open(str(path)) as container:
            kinds = {s.type for s in container.streams}
            frame = next(container.decode(video=0))
        assert kinds == {"video", "audio"}
        assert (frame.width, frame.height) == (640, 360)
        status = await meeting.http.get(
            f"/api/v1/streaming/{stream['stream_id']}/status", headers=host
        )
        assert status.json()["data"]["status"] == "live"
        assert status.json()["data"]["bitrate"] > 0
        stopped = await meeting.http.post(
            "/api/v1/streaming/stop", headers=host, json={"stream_id": stream["stream_id"]}
        )
        assert stopped.json()["data"]["status"] == "stopped"
        final = await meeting.http.get(stream["playback_url"])
        assert "#EXT-X-ENDLIST" in final.text
        missing = await meeting.http.get(stream["playback_url"].replace("index.m3u8", "../x"))
        assert missing.status_code == 404
    finally:
        for client in clients:
            await client.stop()
        await meeting.http.aclose()


def listen_rtmp(url: str, received: dict, ready: threading.Event) -> None:
    ready.set()
    with av.open(url, format="flv", options={"listen": "1", "rw_timeout": "30000000"}) as source:
        for packet in source.demux():
            if packet.size:
                received[packet.stream.type] = received.get(packet.stream.type, 0) + 1
            if received.get("video", 0) > 20 and received.get("audio", 0) > 20:
                return


async def test_rtmp_push_retries_until_the_target_is_up_and_packets_arrive(
    start_server: Any, call_env: dict, call_on: Any
) -> None:
    env = {**call_env, **SMALL}
    server = start_server(**env)
    meeting, host, clients = await call(server, call_on)
    url = f"rtmp://127.0.0.1:{free_port()}/live/meeting"
    try:
        bad = await meeting.http.post(
            "/api/v1/streaming/start",
            headers=host,
            json={"meeting_id": meeting.meeting_id, "protocol": "rtmp"},
        )
        assert bad.status_code in (400, 422) and "url" in bad.json()["message"]
        # The target is not listening yet: the stream reports it and keeps trying.
        started = await meeting.http.post(
            "/api/v1/streaming/start",
            headers=host,
            json={"meeting_id": meeting.meeting_id, "protocol": "rtmp", "url": url},
        )
        assert started.status_code == 201, started.text
        stream_id = started.json()["data"]["stream_id"]
        status_url = f"/api/v1/streaming/{stream_id}/status"
        for _ in range(100):
            data = (await meeting.http.get(status_url, headers=host)).json()["data"]
            if data["last_error"]:
                break
            await asyncio.sleep(0.1)
        assert data["status"] == "reconnecting" and "refused" in data["last_error"]

        received: dict[str, int] = {}
        ready = threading.Event()
        listener = threading.Thread(target=listen_rtmp, args=(url, received, ready), daemon=True)
        listener.start()
        await asyncio.to_thread(listener.join, 60)
        assert received.get("video", 0) > 20 and received.get("audio", 0) > 20, received
        data = (await meeting.http.get(status_url, headers=host)).json()["data"]
        assert data["bitrate"] > 0
        stopped = await meeting.http.post(
            "/api/v1/streaming/stop", headers=host, json={"stream_id": stream_id}
        )
        assert stopped.status_code == 200
    finally:
        for client in clients:
            await client.stop()
        await meeting.http.aclose()


@pytest.mark.services
async def test_a_worker_produces_the_stream_the_server_serves_and_stops(
    postgres_url: str, redis_url: str, start_server: Any, call_env: dict, call_on: Any
) -> None:
    shared = {
        "PLATFORM_DATABASE_URL": postgres_url,
        "PLATFORM_REDIS_URL": redis_url,
        "PLATFORM_WEBRTC__BOTS_ON": "workers",
        **call_env,
        **SMALL,
    }
    server = start_server(PLATFORM_NODE_NAME="front", **shared)
    worker = start_server(command="worker", PLATFORM_NODE_NAME="media-1", **shared)
    meeting, host, clients = await call(server, call_on)
    try:
        stream = await start_hls(meeting, host)
        assert f"stream {stream['stream_id']}" in worker.log.read_text()
        playlist = await wait_for_segments(meeting, stream["playback_url"])
        assert playlist.count(".ts") >= 2, playlist  # written by the worker, served by the server
        stopped = await meeting.http.post(
            "/api/v1/streaming/stop", headers=host, json={"stream_id": stream["stream_id"]}
        )
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["data"]["status"] == "stopped"
        assert "#EXT-X-ENDLIST" in (await meeting.http.get(stream["playback_url"])).text
    finally:
        for client in clients:
            await client.stop()
        await meeting.http.aclose()
    assert "media bot of meeting" not in server.log.read_text()
    assert "media bot of meeting" in worker.log.read_text()
