"""Two people in real Chromium tabs meet through the web app on a real server."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

# A remote tile plays when its video has a size and its clock advances.
PLAYING = """(selector) => {
  const video = document.querySelector(selector);
  if (!video || !video.videoWidth) return false;
  const seen = video.dataset.seenTime;
  video.dataset.seenTime = String(video.currentTime);
  return seen !== undefined && video.currentTime > Number(seen);
}"""
REMOTE_VIDEO = "#tiles figure:not(#tile-local) video"


async def register(base: str, *names: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for name in names:
            account = {"username": name, "email": f"{name}@example.com", "password": "secret-pass"}
            response = await http.post("/api/v1/auth/register", json=account)
            assert response.status_code == 201, response.text


async def open_app(browser: Any, base: str, name: str) -> Any:
    context = await browser.new_context(permissions=["camera", "microphone"], base_url=base)
    page = await context.new_page()
    page.on("pageerror", lambda exc: print(f"[{name}] page error: {exc}"))
    page.on("console", lambda msg: print(f"[{name}] {msg.type}: {msg.text}"))
    await page.goto("/")
    await page.get_by_label("User name or email").fill(name)
    await page.locator("#login-form").get_by_label("Password").fill("secret-pass")
    await page.get_by_role("button", name="Log in").click()
    await page.locator("#lobby").wait_for()
    return page


async def test_two_people_see_hear_and_chat_then_one_leaves(
    browser: Any, start_server: Any, web_env: dict, artifacts: Path
) -> None:
    server = start_server(**web_env)
    await register(server.url, "ann", "bob")
    ann = await open_app(browser, server.url, "ann")
    bob = await open_app(browser, server.url, "bob")

    await ann.get_by_label("Title").fill("Weekly sync")
    await ann.get_by_role("button", name="Create").click()
    entry = ann.locator("#meetings li", has_text="Weekly sync")
    await entry.wait_for()
    meeting_id = re.search(r"#(\d+)", await entry.inner_text()).group(1)
    await entry.get_by_role("button", name="Join").click()
    await ann.locator("#tile-local video").wait_for()

    await bob.get_by_label("Meeting id").fill(meeting_id)
    await bob.locator("#join-form").get_by_role("button", name="Join").click()

    # Each sees the other's camera (Chromium's fake device) playing.
    for page in (ann, bob):
        await page.wait_for_function(PLAYING, arg=REMOTE_VIDEO, polling=300, timeout=30_000)
        size = await page.eval_on_selector(REMOTE_VIDEO, "v => [v.videoWidth, v.videoHeight]")
        assert size[0] > 0 and size[1] > 0
    assert await ann.locator("#participants li").all_inner_texts() == ["ann (host)", "bob"]

    # Chat crosses both ways.
    await ann.locator("#chat-input").fill("hello bob")
    await ann.locator("#chat-input").press("Enter")
    await bob.locator("#chat li", has_text="ann: hello bob").wait_for()
    await bob.locator("#chat-input").fill("hi ann")
    await bob.get_by_role("button", name="Send").click()
    await ann.locator("#chat li", has_text="bob: hi ann").wait_for()

    # Bob mutes: Ann sees it on his tile and in the participant list.
    await bob.get_by_role("button", name="Mute").click()
    assert await bob.locator("#mic").get_attribute("aria-pressed") == "true"
    await ann.locator("#tiles figure:not(#tile-local) .muted").wait_for()
    await ann.locator("#participants li", has_text="bob - muted").wait_for()
    await ann.screenshot(path=str(artifacts / "webclient-two-party-call.png"), full_page=True)

    # Bob leaves: his tile and his entry go away on Ann's side.
    await bob.get_by_role("button", name="Leave").click()
    await bob.locator("#lobby").wait_for()
    await ann.locator(REMOTE_VIDEO).wait_for(state="detached")
    await ann.locator("#participants li", has_text="bob").wait_for(state="detached")
    assert await ann.locator("#participants li").all_inner_texts() == ["ann (host)"]
    for page in (ann, bob):
        await page.context.close()
