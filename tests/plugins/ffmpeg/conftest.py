"""Fixtures of the ffmpeg API tests: an app with media + ffmpeg, people, uploads, job waiting."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage


class Studio:
    """One test's client and helpers: upload files, queue jobs, wait for them."""

    def __init__(self, client: Any, people: Any) -> None:
        self.client = client
        self.people = people

    async def upload(self, headers: dict, path: Path) -> int:
        content = await asyncio.to_thread(path.read_bytes)
        files = {"file": FileStorage(io.BytesIO(content), filename=path.name)}
        response = await self.client.post("/api/v1/media/upload", headers=headers, files=files)
        assert response.status_code == 201, await response.get_json()
        return (await response.get_json())["data"]["file_id"]

    async def post(self, headers: dict, path: str, payload: dict) -> tuple[int, dict]:
        response = await self.client.post(path, headers=headers, json=payload)
        return response.status_code, await response.get_json()

    async def wait(self, headers: dict, job_id: int, seconds: float = 60) -> dict:
        for _ in range(int(seconds * 20)):
            response = await self.client.get(f"/api/v1/ffmpeg/job/{job_id}/status", headers=headers)
            data = (await response.get_json())["data"]
            if data["status"] in ("completed", "failed"):
                return data
            await asyncio.sleep(0.05)
        raise AssertionError(f"job {job_id} did not finish: {data}")

    async def info(self, headers: dict, file_id: int) -> dict:
        response = await self.client.get(f"/api/v1/media/info/{file_id}", headers=headers)
        return (await response.get_json())["data"]

    async def fetch(self, headers: dict, file_id: int, into: Path) -> Path:
        response = await self.client.get(f"/api/v1/media/download/{file_id}", headers=headers)
        await asyncio.to_thread(into.write_bytes, await response.get_data())
        return into


@pytest.fixture
async def studio(make_client: Any, people_of: Any, recorder: Any) -> Any:
    async with make_client(
        extra_plugins=[recorder],
        plugins={"enabled": ["users", "meetings", "media", "ffmpeg"]},
        ratelimit={"enabled": False},
    ) as client:
        yield Studio(client, people_of(client))
