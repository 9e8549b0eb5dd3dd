"""Every response is an envelope with a request id, errors included; bad input never gives 500."""

from __future__ import annotations

import pytest
from quart import Blueprint

from kernel.api import ApiError, Schema, hookimpl, ok, validate_request


class Item(Schema):
    name: str
    count: int


class ProbePlugin:
    """A plugin with routes that fail in the ways the kernel must turn into envelopes."""

    plugin_name = "probe"

    @hookimpl
    def register_blueprints(self, register):
        bp = Blueprint("probe", __name__, url_prefix="/probe")

        @bp.get("/boom")
        async def boom():
            raise RuntimeError("secret internal detail")

        @bp.get("/teapot")
        async def teapot():
            raise ApiError(409, "meeting is full", 2003)

        @bp.post("/items")
        @validate_request(Item)
        async def items(data: Item):
            return ok(data.model_dump(), status=201)

        register(bp)


def assert_envelope(response, body, status, code=None):
    assert response.status_code == status
    assert body["code"] == (code if code is not None else status)
    assert isinstance(body["message"], str) and body["message"]
    assert body["timestamp"].endswith("Z")
    assert body["request_id"] == response.headers["X-Request-ID"]


async def test_success_envelope_and_request_id(client):
    response = await client.get("/healthz")
    body = await response.get_json()
    assert_envelope(response, body, 200)
    assert body["data"] == {"status": "ok"}
    assert list(body)[:2] == ["code", "message"]


async def test_incoming_request_id_is_kept_and_bad_one_replaced(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "trace-abc.123"})
    assert response.headers["X-Request-ID"] == "trace-abc.123"
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id <script>"})
    assert response.headers["X-Request-ID"] != "bad id <script>"
    assert len(response.headers["X-Request-ID"]) == 32


async def test_404_and_405(client):
    response = await client.get("/no/such/path")
    assert_envelope(response, await response.get_json(), 404)
    response = await client.delete("/healthz")
    body = await response.get_json()
    assert_envelope(response, body, 405)
    assert "GET" in response.headers["Allow"]


async def test_500_is_an_envelope_without_the_traceback(make_client, caplog):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.get("/probe/boom")
        body = await response.get_json()
    assert_envelope(response, body, 500)
    assert "secret internal detail" not in str(body)
    # The operator gets the traceback in the log, tied to the request id.
    assert any(body["request_id"] in r.getMessage() for r in caplog.records)
    assert "secret internal detail" in caplog.text


async def test_api_error_keeps_business_code(make_client):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.get("/probe/teapot")
        body = await response.get_json()
    assert_envelope(response, body, 409, 2003)
    assert body["message"] == "meeting is full"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x"}, "count"),
        ({"name": "x", "count": "many"}, "count"),
        ({"name": ["x"], "count": 1}, "name"),
        ({"name": "x", "count": 1, "colour": "red"}, "colour"),
    ],
)
async def test_validation_errors_name_the_field(make_client, payload, field):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.post("/probe/items", json=payload)
        body = await response.get_json()
    assert_envelope(response, body, 422)
    assert body["message"].startswith(f"{field}:")
    assert body["error"][0]["field"] == field


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"name": "x", ', "application/json", 400),
        ("[1, 2]", "application/json", 422),
        ("null", "application/json", 422),
        ("name=x", "application/x-www-form-urlencoded", 422),
        ("\xff\xfe", "application/json", 400),
    ],
)
async def test_malformed_bodies_are_4xx(make_client, data, content_type, status):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.post(
            "/probe/items", data=data, headers={"Content-Type": content_type}
        )
        body = await response.get_json()
    assert_envelope(response, body, status)


async def test_oversized_body_is_413(make_client):
    async with make_client(extra_plugins=[ProbePlugin()], max_body_size=1024) as client:
        response = await client.post("/probe/items", json={"name": "x" * 5000, "count": 1})
        body = await response.get_json()
    assert_envelope(response, body, 413)


async def test_valid_request_passes(make_client):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.post("/probe/items", json={"name": "x", "count": 2})
        body = await response.get_json()
    assert_envelope(response, body, 201)
    assert body["data"] == {"name": "x", "count": 2}


async def test_cors_headers(make_client):
    async with make_client(cors_origins=["https://app.example"]) as client:
        allowed = await client.get("/healthz", headers={"Origin": "https://app.example"})
        other = await client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "X-Request-ID" in allowed.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_openapi_document_and_docs_page(client):
    response = await client.get("/openapi.json")
    spec = await response.get_json()
    assert response.status_code == 200
    login = spec["paths"]["/api/v1/auth/login"]["post"]
    request_schema = login["requestBody"]["content"]["application/json"]["schema"]
    assert request_schema["title"] == "LoginIn"
    assert request_schema["additionalProperties"] is False
    assert request_schema["properties"]["password"]["maxLength"] == 100
    response_schema = login["responses"]["200"]["content"]["application/json"]["schema"]
    assert response_schema["properties"]["data"]["$ref"].endswith("/LoginOut")
    assert "/api/v1/auth/register" in spec["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "openapi.json" in (await docs.get_data(as_text=True))
