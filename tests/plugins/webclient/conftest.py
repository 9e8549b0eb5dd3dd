"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright against a real server."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = os.environ.get("PLATFORM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Two tabs of one call must both keep playing.
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
]
WEB_PLUGINS = '["users", "meetings", "my-meetings", "signaling", "webclient"]'
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


@pytest.fixture
async def browser(require_service: Callable[[str, str], None]) -> AsyncIterator[Any]:
    """A headless Chromium; skipped (failed when services are required) if it is missing."""
    try:
        from playwright.async_api import async_playwright
    except ImportError as exc:
        require_service("Playwright", f"python package missing: {exc}; pip install -e '.[test]'")
    if not os.access(CHROMIUM, os.X_OK):
        require_service("Chromium", f"{CHROMIUM} not found; apt-get install chromium")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def web_env() -> dict[str, str]:
    """A server with what the web app needs (no rate limits: tests log in many times)."""
    return {"PLATFORM_PLUGINS__ENABLED": WEB_PLUGINS, "PLATFORM_RATELIMIT__ENABLED": "false"}


@pytest.fixture
def artifacts() -> Path:
    """test-artifacts/ at the top of the checkout (git-ignored): screenshots to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


class WebApp:
    """Helpers of the browser tests: accounts, a logged-in app page, a playing video."""

    # A video plays when it has a size and its clock advances between two polls.
    PLAYING = """(selector) => {
      const video = document.querySelector(selector);
      if (!video || !video.videoWidth) return false;
      const seen = video.dataset.seenTime;
      video.dataset.seenTime = String(video.currentTime);
      return seen !== undefined && video.currentTime > Number(seen);
    }"""

    @staticmethod
    async def register(base: str, *names: str) -> None:
        async with httpx.AsyncClient(base_url=base) as http:
            for name in names:
                account = {
                    "username": name,
                    "email": f"{name}@example.com",
                    "password": "secret-pass",
                }
                response = await http.post("/api/v1/auth/register", json=account)
                assert response.status_code == 201, response.text

    @staticmethod
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


@pytest.fixture
def web() -> type[WebApp]:
    """`web.register(url, *names)`, `await web.open_app(browser, url, name)`, `web.PLAYING`."""
    return WebApp
