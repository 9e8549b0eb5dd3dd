"""Synthetic-speech detection with a real ONNX model that the test builds itself.

The model is a logistic regression over the 40 log-mel bands: energy in the upper bands
pushes towards "synthetic". Real detectors are trained; this one exists so that the whole
path (features, onnxruntime in a worker process, the endpoint) runs for real.
"""

from __future__ import annotations

import base64
import io
import wave
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from plugins.antispoof.features import BANDS

PLUGINS = ["users", "meetings", "media", "speech", "antispoof"]


def build_model(path: Path) -> Path:
    weights = np.where(np.arange(BANDS) >= BANDS // 2, 0.5, -0.5).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["features", "w"], ["logit0"]),
            helper.make_node("Add", ["logit0", "b"], ["logit"]),
            helper.make_node("Sigmoid", ["logit"], ["prob_fake"]),
        ],
        "antispoof",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", BANDS])],
        [helper.make_tensor_value_info("prob_fake", TensorProto.FLOAT, ["N", 1])],
        [
            helper.make_tensor("w", TensorProto.FLOAT, [BANDS, 1], weights.tolist()),
            helper.make_tensor("b", TensorProto.FLOAT, [1], [0.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def tone_wav(frequency: float) -> str:
    t = np.arange(16000) / 16000
    pcm = (np.sin(2 * np.pi * frequency * t) * 12000).astype("<i2").tobytes()
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(2)
        target.setframerate(16000)
        target.writeframes(pcm)
    return base64.b64encode(out.getvalue()).decode()


@pytest.mark.parametrize(("frequency", "synthetic"), [(6000.0, True), (200.0, False)])
async def test_the_configured_model_judges_the_voice(
    make_client: Any, people_of: Any, tmp_path: Path, frequency: float, synthetic: bool
) -> None:
    model = build_model(tmp_path / "antispoof.onnx")
    async with make_client(
        plugins={"enabled": PLUGINS}, antispoof={"model_path": str(model)}
    ) as client:
        _, ann = await people_of(client).add("ann")
        response = await client.post(
            "/api/v1/speech/synthesis-detection",
            headers=ann,
            json={"audio_data": tone_wav(frequency)},
        )
        body = await response.get_json()
        assert response.status_code == 200, body
        data = body["data"]
        assert data["is_synthetic"] is synthetic
        assert (data["probability"] > 0.9) if synthetic else (data["probability"] < 0.1)
        assert data["confidence"] > 0.8 and data["engine"] == "antispoof"


async def test_without_a_model_the_engine_is_not_offered(make_client: Any, people_of: Any):
    async with make_client(plugins={"enabled": PLUGINS}) as client:
        _, ann = await people_of(client).add("ann")
        response = await client.post(
            "/api/v1/speech/synthesis-detection", headers=ann, json={"audio_data": tone_wav(300)}
        )
        body = await response.get_json()
        assert (response.status_code, body["code"]) == (503, 4001)
        assert "antispoof.model_path" in body["message"]


async def test_a_missing_model_file_is_a_clear_failure(
    make_client: Any, people_of: Any, tmp_path: Path
) -> None:
    async with make_client(
        plugins={"enabled": PLUGINS}, antispoof={"model_path": str(tmp_path / "gone.onnx")}
    ) as client:
        _, ann = await people_of(client).add("ann")
        response = await client.post(
            "/api/v1/speech/synthesis-detection", headers=ann, json={"audio_data": tone_wav(300)}
        )
        body = await response.get_json()
        assert (response.status_code, body["code"]) == (422, 4002)
        assert "model is missing" in body["message"]
