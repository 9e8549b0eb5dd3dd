"""A host records a call from the web app: the server's recording of the browser decodes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import av
import httpx

RECORDING_PLUGINS = (
    '["users", "meetings", "my-meetings", "signaling", "media", "webrtc", "recording", "webclient"]'
)


async def test_a_browser_participant_is_recorded_with_sound_and_picture(
    browser: Any, start_server: Any, web_env: dict, tmp_path: Path, web: Any
) -> None:
    server = start_server(**(web_env | {"PLATFORM_PLUGINS__ENABLED": RECORDING_PLUGINS}))
    await web.register(server.url, "hal")
    page = await web.open_app(browser, server.url, "hal")
    await page.get_by_label("Title").fill("Recorded")
    await page.get_by_label("Allow recording").check()
    await page.get_by_role("button", name="Create").click()
    entry = page.locator("#meetings li", has_text="Recorded")
    await entry.get_by_role("button", name="Join").click()
    await page.wait_for_function(web.PLAYING, arg="#tile-local video", polling=300, timeout=30_000)

    await page.get_by_role("button", name="Start recording").click()
    await page.get_by_role("button", name="Stop recording").wait_for()
    recording_id = await page.evaluate("() => meetingApp.call.recording.recording_id")
    meeting_id = await page.evaluate("() => meetingApp.call.meeting.meeting_id")
    token = await page.evaluate("() => meetingApp.api.token")
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as http:
        # The server's media bot reaches the browser (it offers, the page answers) ...
        for _ in range(300):
            peers = (await http.get(f"/api/v1/webrtc/room/{meeting_id}/peers")).json()["data"]
            states = {(p["user_id"], p["status"]) for p in peers["peers"]}
            if states == {(1, "connected")}:
                break
            await asyncio.sleep(0.1)
        assert states == {(1, "connected")}, peers  # hal (user 1): audio and video
        await asyncio.sleep(3)  # ... and records a few seconds of it.
        await page.get_by_role("button", name="Stop recording").click()
        await page.get_by_role("button", name="Start recording").wait_for()
        for _ in range(1200):
            recording = (await http.get(f"/api/v1/recording/{recording_id}")).json()["data"]
            if recording["status"] in ("completed", "failed"):
                break
            await asyncio.sleep(0.1)
        assert recording["status"] == "completed", recording
        download = await http.get(f"/api/v1/recording/{recording_id}/download")
        assert download.status_code == 200
    path = tmp_path / "recording.mp4"
    path.write_bytes(download.content)
    with av.open(str(path)) as container:
        kinds = sorted(stream.type for stream in container.streams)
        assert kinds == ["audio", "video"]
        pictures = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        sound = sum(frame.samples for frame in container.decode(audio=0))
        rate = container.streams.audio[0].rate
    assert pictures > 25
    assert sound / rate > 2
    await page.context.close()
