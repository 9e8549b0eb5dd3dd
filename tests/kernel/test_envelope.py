"""Every response is an envelope with a request id, errors included; bad input never gives 500."""

from __future__ import annotations

import pytest
from pydantic import create_model
from quart import Blueprint

from kernel.api import (
    MAX_ID,
    ApiError,
    Id,
    Out,
    PageQuery,
    Schema,
    hookimpl,
    ok,
    responds,
    validate_querystring,
    validate_request,
)


class Item(Schema):
    name: str
    count: int
    ref: Id | None = None


class ListQuery(PageQuery):
    ratio: float = 1.0


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
            return ok(data.model_dump(exclude_none=True), status=201)

        @bp.get("/items")
        @validate_querystring(ListQuery)
        async def list_items(query_args: ListQuery):
            return ok(query_args.model_dump())

        @bp.get("/items/<int:item_id>")
        async def item(item_id: int):
            return ok({"item_id": item_id})

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
        (b"\xff\xfe", "application/json", 400),  # not UTF-8
        (b'{"name": "\xed\xa0\x80", "count": 1}', "application/json", 400),  # UTF-8 surrogate
        ('{"name": "\\ud800", "count": 1}', "application/json", 400),  # half a pair
        ('{"name": "x\\udc00y", "count": 1}', "application/json", 400),
        ('{"name": "x", "count": NaN}', "application/json", 400),
        ('{"name": "x", "count": -Infinity}', "application/json", 400),
        ("[" * 100_000 + "]" * 100_000, "application/json", 400),
        ('{"name": "x", "count": 1, "ref": 2147483648}', "application/json", 422),
        ('{"name": "x", "count": 1, "ref": 0}', "application/json", 422),
    ],
)
async def test_malformed_bodies_are_4xx(make_client, data, content_type, status):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.post(
            "/probe/items", data=data, headers={"Content-Type": content_type}
        )
        body = await response.get_json()
    assert_envelope(response, body, status)


async def test_a_whole_surrogate_pair_is_text_like_any_other(make_client):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.post(
            "/probe/items",
            data='{"name": "\\ud83d\\ude00", "count": 1, "ref": 2147483647}',
            headers={"Content-Type": "application/json"},
        )
        body = await response.get_json()
    assert_envelope(response, body, 201)
    assert body["data"] == {"name": "\U0001f600", "count": 1, "ref": MAX_ID}


async def test_a_path_id_no_row_can_have_reaches_the_handler_as_0(make_client):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.get(f"/probe/items/{MAX_ID}")
        assert (await response.get_json())["data"] == {"item_id": MAX_ID}
        for too_big in (MAX_ID + 1, 10**40):  # the handler's own "not found" answers
            response = await client.get(f"/probe/items/{too_big}")
            assert (await response.get_json())["data"] == {"item_id": 0}


@pytest.mark.parametrize(
    ("query", "field"),
    [("page=10000000000", "page"), ("ratio=nan", "ratio"), ("ratio=inf", "ratio")],
)
async def test_query_numbers_out_of_range_are_422(make_client, query, field):
    async with make_client(extra_plugins=[ProbePlugin()]) as client:
        response = await client.get(f"/probe/items?{query}")
        body = await response.get_json()
    assert_envelope(response, body, 422)
    assert body["message"].startswith(f"{field}:")


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


def plugin_with_a_model_named_stats(name: str, field: str) -> object:
    """A plugin whose response model is called `Stats`, with its own field and nested model."""
    part = create_model("Part", **{f"{field}_part": (int, ...)}, __base__=Out)
    stats = create_model("Stats", **{field: (int, ...), "parts": (list[part], ...)}, __base__=Out)

    class Plugin:
        plugin_name = name

        @hookimpl
        def register_blueprints(self, register):
            bp = Blueprint(name, __name__, url_prefix=f"/{name}")

            @bp.get("/stats")
            @responds(stats)
            async def get_stats():
                return ok({field: 1, "parts": []})

            register(bp)

    return Plugin()


async def test_two_plugins_models_of_one_name_each_keep_their_schema(make_client):
    plugins = [
        plugin_with_a_model_named_stats("a", "apples"),
        plugin_with_a_model_named_stats("b", "bees"),
    ]
    async with make_client(extra_plugins=plugins) as client:
        spec = await (await client.get("/openapi.json")).get_json()
    components = spec["components"]["schemas"]

    def resolve(ref: str) -> dict:
        return components[ref.removeprefix("#/components/schemas/")]

    for name, field in (("a", "apples"), ("b", "bees")):
        envelope = spec["paths"][f"/{name}/stats"]["get"]["responses"]["200"]["content"]
        stats = resolve(envelope["application/json"]["schema"]["properties"]["data"]["$ref"])
        assert list(stats["properties"]) == [field, "parts"]
        part = resolve(stats["properties"]["parts"]["items"]["$ref"])
        assert list(part["properties"]) == [f"{field}_part"]
    # The first keeps the plain name, the other is named after its blueprint.
    assert {"Stats", "Part"} <= set(components)
    assert {"a.Stats", "b.Stats"} & set(components)
