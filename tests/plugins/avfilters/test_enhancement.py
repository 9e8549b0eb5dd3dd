"""Enhancement over HTTP with FFmpeg's filters: audio gets cleaner, video sharper or bigger."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from werkzeug.datastructures import FileStorage

PLUGINS = ["users", "meetings", "media", "enhancement", "avfilters"]
RATE = 48000


@pytest.fixture
async def client(make_client: Any) -> Any:
    async with make_client(plugins={"enabled": PLUGINS}, ratelimit={"enabled": False}) as c:
        yield c


def wav(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(2)
        target.setframerate(RATE)
        target.writeframes((samples * 32767).astype("<i2").tobytes())
    return out.getvalue()


def snr(clean: np.ndarray, other: np.ndarray) -> float:
    n = min(len(clean), len(other))
    return float(10 * np.log10(np.sum(clean[:n] ** 2) / np.sum((other[:n] - clean[:n]) ** 2)))


async def test_denoising_inline_audio_makes_it_cleaner(client: Any, people_of: Any) -> None:
    _, ann = await people_of(client).add("ann")
    t = np.arange(RATE * 2) / RATE
    clean = np.sin(2 * np.pi * 440 * t) * 0.3
    noisy = clean + np.random.default_rng(7).normal(0, 0.1, len(t))
    response = await client.post(
        "/api/v1/audio/denoising",
        headers=ann,
        json={"audio_data": base64.b64encode(wav(noisy)).decode()},
    )
    body = await response.get_json()
    assert response.status_code == 200, body
    assert body["data"]["engine"] == "avfilters" and body["data"]["file_id"] is None
    with wave.open(io.BytesIO(base64.b64decode(body["data"]["audio_data"]))) as result:
        denoised = np.frombuffer(result.readframes(result.getnframes()), "<i2") / 32767
    assert snr(clean, denoised) > snr(clean, noisy) + 2  # at least 2 dB cleaner


@pytest.mark.parametrize("kind", ["sharpen", "upscale", "denoise"])
async def test_video_enhancement_gives_a_new_file(
    client: Any, people_of: Any, make_media: Any, tmp_path: Path, kind: str
) -> None:
    _, ann = await people_of(client).add("ann")
    clip = make_media("clip.mp4", seconds=1, width=160, height=120)
    files = {"file": FileStorage(io.BytesIO(clip.read_bytes()), filename="clip.mp4")}
    uploaded = await client.post("/api/v1/media/upload", headers=ann, files=files)
    file_id = (await uploaded.get_json())["data"]["file_id"]
    response = await client.post(
        "/api/v1/video/enhancement",
        headers=ann,
        json={"file_id": file_id, "enhancement_type": kind},
    )
    body = await response.get_json()
    assert response.status_code == 200, body
    info = (
        await (
            await client.get(f"/api/v1/media/info/{body['data']['file_id']}", headers=ann)
        ).get_json()
    )["data"]
    expected = (320, 240) if kind == "upscale" else (160, 120)
    assert (info["width"], info["height"]) == expected
    assert abs(info["duration"] - 1.0) < 0.15 and info["audio_codec"] == "aac"
    if kind == "sharpen":
        # Sharpening raises the picture's high-frequency energy.
        def edges(path: Path) -> float:
            with av.open(str(path)) as c:
                image = next(c.decode(video=0)).to_ndarray(format="gray").astype(float)
            return float(np.abs(np.diff(image, axis=1)).mean())

        download = await client.get(
            f"/api/v1/media/download/{body['data']['file_id']}", headers=ann
        )
        (tmp_path / "sharp.mp4").write_bytes(await download.get_data())
        assert edges(tmp_path / "sharp.mp4") > edges(clip) * 1.05


async def test_unknown_type_and_missing_input_are_clear(client: Any, people_of: Any) -> None:
    _, ann = await people_of(client).add("ann")
    response = await client.post(
        "/api/v1/video/enhancement",
        headers=ann,
        json={"video_data": "aGk=", "enhancement_type": "colorize"},
    )
    body = await response.get_json()
    assert response.status_code == 422 and "enhancement_type" in body["message"]
    bad = await client.post("/api/v1/audio/denoising", headers=ann, json={})
    assert bad.status_code == 422 and "file_id" in (await bad.get_json())["message"]
