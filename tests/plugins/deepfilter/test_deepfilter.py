"""DeepFilterNet3 denoises real speech buried in noise, through POST /api/v1/audio/denoising."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

HELLO = Path(__file__).parents[2] / "data" / "hello_world.wav"
PLUGINS = ["users", "meetings", "media", "enhancement", "avfilters", "deepfilter", "models"]
RATE = 48000
SETTINGS = {"plugins": {"enabled": PLUGINS}, "ratelimit": {"enabled": False}}


def speech_48k() -> np.ndarray:
    with av.open(str(HELLO)) as source:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        chunks = [
            out.to_ndarray().reshape(-1)
            for frame in source.decode(audio=0)
            for out in [*resampler.resample(frame)]
        ]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    pause = np.zeros(RATE // 4, np.float32)
    return np.concatenate([pause, *chunks, pause])


def wav(samples: np.ndarray) -> str:
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(2)
        target.setframerate(RATE)
        target.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return base64.b64encode(out.getvalue()).decode()


def snr(clean: np.ndarray, other: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(clean**2) / np.sum((other - clean) ** 2)))


@pytest.fixture
def noisy_speech() -> tuple[np.ndarray, np.ndarray]:
    clean = speech_48k()
    noise = np.random.default_rng(3).normal(0, 1, len(clean)).astype(np.float32)
    noise *= np.sqrt(np.mean(clean**2) / np.mean(noise**2) / 10 ** (5 / 10))  # 5 dB SNR
    return clean, clean + noise


async def denoise(client: Any, headers: dict, samples: np.ndarray) -> tuple[dict, np.ndarray]:
    response = await client.post(
        "/api/v1/audio/denoising", headers=headers, json={"audio_data": wav(samples)}
    )
    body = await response.get_json()
    assert response.status_code == 200, body
    with wave.open(io.BytesIO(base64.b64decode(body["data"]["audio_data"]))) as result:
        assert (result.getframerate(), result.getnchannels()) == (RATE, 1)
        out = np.frombuffer(result.readframes(result.getnframes()), "<i2") / 32767
    return body["data"], out


async def test_noisy_speech_comes_back_much_cleaner_and_in_step(
    make_client: Any, people_of: Any, noisy_speech: tuple[np.ndarray, np.ndarray]
) -> None:
    clean, noisy = noisy_speech
    async with make_client(enhancement={"audio_denoise_engine": "deepfilter"}, **SETTINGS) as c:
        _, ann = await people_of(c).add("ann")
        data, denoised = await denoise(c, ann, noisy)
        assert data["engine"] == "deepfilter"
        assert len(denoised) == len(clean)  # the lookahead is cut off: sample for sample
        gain = snr(clean, denoised) - snr(clean, noisy)
        assert gain > 7, f"only {gain:.1f} dB cleaner"  # measured about +10 dB here

        # The same clip again, in the same model host: the same answer (what it heard before
        # does not colour it).
        _, denoised_again = await denoise(c, ann, noisy)
        assert np.array_equal(denoised_again, denoised)
        jobs = c.app.extensions["platform"].jobs
        assert jobs.model_status()["deepfilternet3"]["jobs_run"] == 2


async def test_the_setting_chooses_between_denoisers(
    make_client: Any, people_of: Any, noisy_speech: tuple[np.ndarray, np.ndarray]
) -> None:
    clean, noisy = noisy_speech
    async with make_client(enhancement={"audio_denoise_engine": "avfilters"}, **SETTINGS) as c:
        _, ann = await people_of(c).add("ann")
        data, denoised = await denoise(c, ann, noisy)
        assert data["engine"] == "avfilters"
        # FFT noise reduction helps far less on speech than the network does.
        assert snr(clean, denoised[: len(clean)]) - snr(clean, noisy) < 7


async def test_a_missing_model_archive_is_a_clear_failure(
    make_client: Any, people_of: Any, tmp_path: Path, noisy_speech: Any
) -> None:
    missing = tmp_path / "gone.tar.gz"
    async with make_client(deepfilter={"model_path": str(missing)}, **SETTINGS) as client:
        _, ann = await people_of(client).add("ann")
        response = await client.post(
            "/api/v1/audio/denoising", headers=ann, json={"audio_data": wav(noisy_speech[1])}
        )
        body = await response.get_json()
        assert (response.status_code, body["code"]) == (422, 4002)
        assert "model is missing" in body["message"] and str(missing) in body["message"]
