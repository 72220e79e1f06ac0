"""The admin API over real HTTP: captures, refusals, the outbox, bearer auth, and requests generated from
its own OpenAPI document (hypothesis), each answer checked against that document (jsonschema)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from receiver.config import load_settings
from receiver.routes import admin
from receiver.routes.openapi import openapi_document
from tests.conftest import FIXTURES, RunningReceiver, fixture_headers, serve_in_thread

TOKEN = "s3cret-admin-token"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningReceiver]:
    """A receiver holding processed, quarantined and refused captures and an oversized-request refusal."""
    data = tmp_path_factory.mktemp("admin") / "data"
    sources = {
        "v2": {"dialect": "tencent-vod-v2"},
        "mps": {"dialect": "tencent-mps"},
        "ali": {"dialect": "aliyun-vod", "keys": ["k"], "public_url": "https://example.com/cb"},
    }
    running = serve_in_thread(
        load_settings(data_dir=data, sources=sources, admin_token=TOKEN, max_body_bytes=64 * 1024)
    )
    try:
        with running.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            for path in sorted((FIXTURES / "tencent-vod-v2").glob("*.json"))[:12]:
                client.post("/callbacks/v2", content=path.read_bytes(), headers=fixture_headers(path))
            for name in ("WorkflowTask.json", "NoEventType__unidentifiable.json"):
                client.post("/callbacks/mps", content=(FIXTURES / "tencent-mps" / name).read_bytes())
            signed = FIXTURES / "aliyun-vod" / "TranscodeComplete__signed.json"
            assert client.post("/callbacks/ali", content=signed.read_bytes()).status_code == 401
            assert client.post("/callbacks/v2", content=b"x" * (65 * 1024)).status_code == 413
        running.drain()
        yield running
    finally:
        running.stop()


def authed(receiver: RunningReceiver) -> httpx.Client:
    return receiver.client(headers={"Authorization": f"Bearer {TOKEN}"})


def test_the_api_wants_the_bearer_token(loaded: RunningReceiver) -> None:
    with loaded.client() as client:
        for path in ("/api/captures", "/api/openapi.json", "/api/refusals"):
            response = client.get(path)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
        assert client.get("/api/captures", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401


def test_captures_filter_paginate_and_show_their_bytes(loaded: RunningReceiver) -> None:
    with authed(loaded) as client:
        every = client.get("/api/captures", params={"limit": 1000}).json()["items"]
        ids = [item["id"] for item in every]
        assert ids == sorted(ids, reverse=True)
        pages: list[int] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/captures", params=params).json()
            pages += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == ids
        [refused] = client.get("/api/captures", params={"state": "refused"}).json()["items"]
        assert refused["source"] == "ali"
        assert "X-VOD-TIMESTAMP" in refused["verification_reason"]
        [quarantined] = client.get("/api/captures", params={"state": "quarantined", "source": "mps"}).json()["items"]
        detail = client.get(f"/api/captures/{quarantined['id']}").json()
        assert detail["body"] == (FIXTURES / "tencent-mps" / "NoEventType__unidentifiable.json").read_text()
        assert client.get("/api/captures/999999").status_code == 404
        bad = client.get("/api/captures", params={"state": "lost"})
        assert bad.status_code == 400
        assert "'state'" in bad.json()["error"] and "'lost'" in bad.json()["error"]
        [oversized] = client.get("/api/refusals").json()["items"]
        assert oversized["body_size"] == 65 * 1024
        assert client.get("/api/outbox", params={"state": "dead"}).json() == {"items": [], "next_cursor": None}


def _route_paths() -> set[str]:
    return {"/api" + re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path) for route in admin.routes()}


def test_the_document_has_every_method_of_every_route() -> None:
    for route in admin.routes():
        path = "/api" + re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        methods = {m.lower() for m in (route.methods or ())} - {"head"}
        assert methods == set(DOCUMENT["paths"][path]), path


def test_the_document_describes_every_route() -> None:
    document = openapi_document()
    assert set(document["paths"]) == _route_paths()
    Draft202012Validator.check_schema({"components": document["components"]})


# requests generated from the document ---------------------------------------------------------------------

DOCUMENT = json.loads(json.dumps(openapi_document()))
OPERATIONS = [(path, method, op) for path, item in DOCUMENT["paths"].items() for method, op in item.items()]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
TEXT_PLAIN = st.text(max_size=10, alphabet=st.characters(blacklist_categories=("Cs",)))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT_PLAIN,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT_PLAIN, inner, max_size=3),
    max_leaves=8,
)


def value_for(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    """A valid value of the parameter's schema, or any text at all (the API must answer 400, never 5xx)."""
    if "enum" in schema:
        valid: st.SearchStrategy[str] = st.sampled_from([str(v) for v in schema["enum"]])
    elif schema.get("type") == "integer":
        valid = st.integers(min_value=schema.get("minimum", -(2**70)), max_value=2**70).map(str)
    else:
        valid = TEXT
    return st.one_of(valid, TEXT, st.sampled_from(["2024-01-01T00:00:00Z", "1700000000", "0", "-1", "", "1e3"]))


def registration() -> st.SearchStrategy[Any]:
    """Bodies for POST /api/tasks: well-formed ones (a known and an unknown source) and any JSON at all."""
    fields = st.fixed_dictionaries(
        {"source": st.sampled_from(["v2", "mps", "nope", ""]), "task_id": TEXT},
        optional={"deadline_s": st.one_of(st.none(), st.floats(-5, 1e6)), "created_at": TEXT, "task_kind": TEXT},
    )
    return st.one_of(fields, JSON_VALUES)


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, Any], str, dict[str, str], Any]:
    path, method, operation = draw(st.sampled_from(OPERATIONS))
    url = path
    query: dict[str, str] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = draw(value_for(parameter["schema"]).filter(bool))
            url = url.replace("{" + parameter["name"] + "}", quote(value, safe=""))
        elif draw(st.booleans()):
            query[parameter["name"]] = draw(value_for(parameter["schema"]))
    body = draw(registration()) if "requestBody" in operation else None
    return method, operation, url, query, body


def check_against_document(operation: dict[str, Any], response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    documented = operation["responses"]
    assert str(response.status_code) in documented, (response.status_code, response.text)
    content = documented[str(response.status_code)].get("content", {})
    schema = content["application/json"]["schema"]
    assert response.headers["content-type"].startswith("application/json")
    Draft202012Validator({**schema, "components": DOCUMENT["components"]}).validate(response.json())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests())
def test_generated_requests_get_documented_answers(
    loaded: RunningReceiver, request: tuple[str, dict[str, Any], str, dict[str, str], Any]
) -> None:
    method, operation, url, query, body = request
    with authed(loaded) as client:
        if method == "get":
            response = client.get(url, params=query)
        else:
            response = client.request(method.upper(), url, params=query, content=json.dumps(body).encode())
    check_against_document(operation, response)


def test_real_items_match_the_document(loaded: RunningReceiver) -> None:
    """Every stored event and task of the loaded receiver, and each capture in detail, fits the document."""
    paths = DOCUMENT["paths"]
    with authed(loaded) as client:
        events = client.get("/api/events", params={"limit": 1000})
        check_against_document(paths["/api/events"]["get"], events)
        items = events.json()["items"]
        assert items
        for item in items:
            check_against_document(
                paths["/api/events/{event_id}"]["get"], client.get(f"/api/events/{item['event_id']}")
            )
            if item["task_id"]:
                answer = client.get(f"/api/tasks/{item['provider']}/{item['task_id']}")
                check_against_document(paths["/api/tasks/{provider}/{task_id}"]["get"], answer)
        for capture in client.get("/api/captures", params={"limit": 1000}).json()["items"]:
            answer = client.get(f"/api/captures/{capture['id']}")
            check_against_document(paths["/api/captures/{capture_id}"]["get"], answer)
        check_against_document(paths["/api/quarantine"]["get"], client.get("/api/quarantine"))
        check_against_document(paths["/api/refusals"]["get"], client.get("/api/refusals"))
