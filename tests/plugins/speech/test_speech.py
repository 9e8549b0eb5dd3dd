"""Speech endpoints: inputs (file, base64, own URL, raw PCM), refusals, and a real engine."""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage

HELLO = Path(__file__).parents[2] / "data" / "hello_world.wav"
PLUGINS = ["users", "meetings", "media", "speech", "pocketsphinx"]


@pytest.fixture
async def speech_client(make_client: Any) -> Any:
    async with make_client(plugins={"enabled": PLUGINS}, ratelimit={"enabled": False}) as c:
        yield c


async def recognise(client: Any, headers: dict, **payload: Any) -> Any:
    return await client.post("/api/v1/speech/recognition", headers=headers, json=payload)


async def test_recognition_from_base64_file_url_and_raw_pcm(
    speech_client: Any, people_of: Any
) -> None:
    _, ann = await people_of(speech_client).add("ann")
    audio = base64.b64encode(HELLO.read_bytes()).decode()
    response = await recognise(speech_client, ann, audio_data=audio, language="en-US")
    assert response.status_code == 200, await response.get_json()
    data = (await response.get_json())["data"]
    assert data["text"] == "hello world" and data["engine"] == "pocketsphinx"
    assert 0 < data["confidence"] <= 1
    assert [w["word"] for w in data["segments"]] == ["hello", "world"]
    assert 0 < data["segments"][0]["start"] < data["segments"][1]["start"] < 1.5

    files = {"file": FileStorage(io.BytesIO(HELLO.read_bytes()), filename="hello.wav")}
    uploaded = await speech_client.post("/api/v1/media/upload", headers=ann, files=files)
    file = (await uploaded.get_json())["data"]
    by_file = await recognise(speech_client, ann, file_id=file["file_id"])
    assert (await by_file.get_json())["data"]["text"] == "hello world"
    by_url = await recognise(speech_client, ann, audio_url=file["file_url"])
    assert (await by_url.get_json())["data"]["text"] == "hello world"

    with wave.open(str(HELLO)) as source:
        pcm = source.readframes(source.getnframes())
    raw = await recognise(
        speech_client,
        ann,
        audio_data=base64.b64encode(pcm).decode(),
        audio_format="pcm_s16le",
        sample_rate=16000,
    )
    assert (await raw.get_json())["data"]["text"] == "hello world"


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({}, 422, "file_id"),
        ({"file_id": 1, "audio_data": "aGk="}, 422, "file_id"),
        ({"audio_data": "not base64!"}, 422, "audio_data"),
        ({"audio_data": base64.b64encode(b"\x00\x01garbage").decode()}, 422, "recognition"),
        ({"audio_url": "http://127.0.0.1:6379/"}, 422, "audio_url"),
        ({"audio_url": "http://169.254.169.254/api/v1/media/download/1"}, 422, "audio_url"),
        ({"file_id": 999}, 404, "file_id"),
        ({"audio_data": "aGk=", "language": "de"}, 422, "language"),
        ({"audio_data": "aGk=", "audio_format": "pcm_s16le"}, 422, "sample_rate"),
    ],
)
async def test_bad_inputs_are_refused_clearly(
    speech_client: Any, people_of: Any, payload: dict, status: int, field: str
) -> None:
    _, ann = await people_of(speech_client).add("ann")
    response = await recognise(speech_client, ann, **payload)
    body = await response.get_json()
    assert response.status_code == status, body
    assert field in body["message"], body


async def test_someone_elses_file_cannot_be_transcribed(speech_client: Any, people_of: Any):
    people = people_of(speech_client)
    _, ann = await people.add("ann")
    _, bob = await people.add("bob")
    files = {"file": FileStorage(io.BytesIO(HELLO.read_bytes()), filename="hello.wav")}
    uploaded = await speech_client.post("/api/v1/media/upload", headers=ann, files=files)
    file_id = (await uploaded.get_json())["data"]["file_id"]
    response = await recognise(speech_client, bob, file_id=file_id)
    assert response.status_code == 404


async def test_without_an_engine_the_task_is_503(make_client: Any, people_of: Any) -> None:
    async with make_client(plugins={"enabled": ["users", "meetings", "media", "speech"]}) as c:
        _, ann = await people_of(c).add("ann")
        response = await c.post("/api/v1/speech/emotion", headers=ann, json={"audio_data": "aGk="})
        body = await response.get_json()
        assert (response.status_code, body["code"]) == (503, 4001)


async def test_a_configured_engine_that_is_not_enabled_is_named(
    make_client: Any, people_of: Any
) -> None:
    async with make_client(
        plugins={"enabled": PLUGINS}, speech={"recognition_engine": "whisper"}
    ) as client:
        _, ann = await people_of(client).add("ann")
        response = await recognise(client, ann, audio_data="aGk=")
        body = await response.get_json()
        assert (response.status_code, body["code"]) == (503, 4001)
        assert "speech.recognition_engine" in body["message"] and "whisper" in body["message"]
