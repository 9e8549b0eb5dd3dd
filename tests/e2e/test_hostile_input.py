"""No input a client can send answers 500, on any route of any built-in plugin.

Every operation of /openapi.json, on SQLite and on PostgreSQL (whose ids are 32-bit), gets the
inputs that once did (schemathesis found most): a body that is not UTF-8, a string holding half
a surrogate pair, NaN, ids and numbers no column holds, and path ids beyond any id. Each must
answer a 4xx envelope (or 503 where a plugin's model is not set up).
"""

from __future__ import annotations

import io
import re
from typing import Any

from werkzeug.datastructures import FileStorage

HUGE = 10**30
BODIES = {
    "not UTF-8": b"\xff\xfe{",
    "half a surrogate pair": b'{"content": "\\ud800", "title": "\\udfff"}',
    "NaN": b'{"value": NaN}',
}
METHODS_WITH_BODIES = ("post", "put", "patch")


def fill(path: str, value: Any) -> str:
    return re.sub(r"\{[^}]+\}", str(value), path)


def int_properties(document: dict, schema: dict) -> list[str]:
    """The integer fields of a request body schema (following one $ref)."""
    ref = schema.get("$ref")
    if ref:
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    found = []
    for name, prop in (schema.get("properties") or {}).items():
        options = prop.get("anyOf", [prop])
        if any(o.get("type") == "integer" for o in options):
            found.append(name)
        elif any(
            o.get("type") == "array" and o.get("items", {}).get("type") == "integer"
            for o in options
        ):
            found.append(f"{name}[]")
    return found


class Prober:
    """Sends as an admin (logging in again after a logout route revoked the token) and notes
    every answer that is a 5xx, or a 4xx without the error envelope."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.headers: dict[str, str] = {}
        self.failures: list[str] = []
        self.tried = 0

    async def login(self) -> None:
        pair, _ = await self.client.app.extensions["platform"].auth.login("root", "password-1")
        self.headers = {"Authorization": f"Bearer {pair.token}"}

    async def send(self, what: str, method: str, url: str, **kwargs: Any) -> int:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = await getattr(self.client, method)(url, headers=headers, **kwargs)
        status, body = response.status_code, await response.get_json(silent=True)
        self.tried += 1
        # 503: a plugin whose model is not set up says so, whatever the input.
        if status >= 500 and status != 503:
            self.failures.append(f"{method.upper()} {url} ({what}): {status} {body}")
        elif status >= 400 and not (isinstance(body, dict) and body.get("code")):
            self.failures.append(f"{method.upper()} {url} ({what}): {status} without an envelope")
        if status == 401:
            await self.login()
        return status


def number_parameters(operation: dict, where: str = "query") -> list[str]:
    found = []
    for parameter in operation.get("parameters", []):
        options = parameter["schema"].get("anyOf", [parameter["schema"]])
        if parameter.get("in") == where and {"integer", "number"} & {
            o.get("type") for o in options
        }:
            found.append(parameter["name"])
    return found


async def test_no_operation_answers_500_to_hostile_input(make_client, db_overrides):
    async with make_client(
        plugins={"enabled": "*"}, ratelimit={"enabled": False}, **db_overrides
    ) as client:
        auth = client.app.extensions["platform"].auth
        await auth.create_user("root", "root@example.com", "password-1", role="admin")
        prober = Prober(client)
        await prober.login()
        document = await (await client.get("/openapi.json")).get_json()
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                if number_parameters(operation, "path"):
                    # An id no row can have: the plugin's own not-found (DELETE included).
                    status = await prober.send("huge id", method, fill(path, HUGE))
                    if method == "get" and status != 404:
                        prober.failures.append(f"GET {path} huge id: {status}, not 404")
                url = fill(path, 1)
                for name in number_parameters(operation):
                    for value in (HUGE, "nan"):
                        await prober.send(f"{name}={value}", method, f"{url}?{name}={value}")
                if method not in METHODS_WITH_BODIES:
                    continue
                for what, data in BODIES.items():
                    json_type = {"Content-Type": "application/json"}
                    await prober.send(what, method, url, data=data, headers=json_type)
                content = (operation.get("requestBody") or {}).get("content", {})
                schema = (content.get("application/json") or {}).get("schema") or {}
                for field in int_properties(document, schema):
                    value: Any = [HUGE, HUGE] if field.endswith("[]") else HUGE
                    body = {field.removesuffix("[]"): value}
                    await prober.send(f"{field}={HUGE}", method, url, json=body)
                form = (content.get("multipart/form-data") or {}).get("schema") or {}
                for field in int_properties(document, form):
                    for value in (str(HUGE), "\u00b2", "-1"):  # too large, a digit not 0-9
                        files = {"file": FileStorage(io.BytesIO(b"x\n"), filename="x.txt")}
                        await prober.send(
                            f"form {field}={value}", method, url, files=files, form={field: value}
                        )
        assert prober.tried > 150, f"only {prober.tried} requests: is /openapi.json complete?"
        assert not prober.failures, "\n".join(prober.failures)
