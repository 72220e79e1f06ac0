"""Property tests over every fixture of every dialect: mutated bodies are normalized or quarantined, never crash.

Each example takes one fixture of a dialect (callback bodies and query answers alike), applies a few
mutations to its JSON tree (drop a key or item, swap a value for one of another type, turn numbers into
strings, inject unicode and lone surrogates, null a value) and maybe to its bytes (truncate, overwrite a
byte), then runs what the receiver runs on a request: `verify` with keys configured, `auto` detection and the
named dialect's `decode` + `normalize`. Every step either succeeds or raises `Unidentifiable` (which the
pipeline turns into a quarantined capture); any other exception would be a 5xx. Events must also serialize
to JSON, as stores and sinks do. Example counts are modest so the suite stays quick on two cores.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver import dialects
from receiver.dialects.base import Dialect, NormalizeContext, RawCallback, SigningPolicy, Unidentifiable, Verification
from receiver.model import Event, Origin

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
POLICY = SigningPolicy(keys=("fuzz-key-1", "fuzz-key-2"), public_url="https://receiver.test/callbacks/fuzz")


def fixtures_of(name: str) -> list[Path]:
    root = FIXTURES / name
    return sorted(p for p in root.rglob("*.json") if not p.name.endswith(".headers.json"))


DIALECTS = [name for name in dialects.registry() if fixtures_of(name)]


def headers_of(path: Path) -> dict[str, str]:
    sidecar = path.with_name(path.name[: -len(".json")] + ".headers.json")
    return json.loads(sidecar.read_text()) if sidecar.exists() else {}


def context_of(path: Path, dialect: str) -> NormalizeContext:
    """Query answers (under query/) are normalized as polls of the API their file is named after."""
    query = path.parent.name == "query" and path.parent.parent == FIXTURES / dialect
    return NormalizeContext(
        source="fuzz",
        origin=Origin.POLL if query else Origin.CALLBACK,
        received_at=NOW,
        api=path.stem.split("__")[0] if query else None,
        task_id_hint="fuzz-task" if query else None,
    )


# mutations ---------------------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", "0", "-1", "0000-00-00T00:00:00Z", "2019-13-45T25:61:61Z", "FINISH", "SUCCESS", "FAIL"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)
unicode_text = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(["\u0000", "\ufeff", "\u202e", "𝄞", "中文", "\ud800", "x\udfffy", "é\u0301", "\u2028"]),
)


def slots(node: Any) -> list[tuple[Any, Any]]:
    """Every (container, key-or-index) position in a JSON tree, parents before children."""
    found: list[tuple[Any, Any]] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                found.append((current, key))
                stack.append(value)
        elif isinstance(current, list):
            for index, value in enumerate(current):
                found.append((current, index))
                stack.append(value)
    return found


def other_type(value: Any, data: st.DataObject) -> Any:
    replacement = data.draw(json_values)
    if type(replacement) is type(value):  # a swap must change the type
        return [replacement] if not isinstance(replacement, list) else {"swapped": replacement}
    return replacement


def mutate_tree(document: Any, data: st.DataObject) -> Any:
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        places = slots(document)
        if not places:
            return data.draw(json_values)
        container, key = data.draw(st.sampled_from(places))
        value = container[key]
        action = data.draw(st.sampled_from(["drop", "swap", "stringify", "unicode", "unicode_key", "null"]))
        if action == "drop":
            del container[key]
        elif action == "swap":
            container[key] = other_type(value, data)
        elif action == "stringify":
            container[key] = (
                json.dumps(value) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
            )
        elif action == "unicode":
            extra = data.draw(unicode_text)
            container[key] = (value + extra) if isinstance(value, str) else extra
        elif action == "unicode_key" and isinstance(container, dict):
            container[f"{key}{data.draw(unicode_text)}"] = container.pop(key)
        else:
            container[key] = None
    return document


def serialize(document: Any, data: st.DataObject) -> bytes:
    ascii_only = data.draw(st.booleans())
    text = json.dumps(document, ensure_ascii=ascii_only)
    # Lone surrogates stay as \\udXXX escapes when ascii_only; otherwise they become invalid UTF-8 bytes.
    return text.encode("utf-8", "surrogatepass")


def mutate_bytes(body: bytes, data: st.DataObject) -> bytes:
    action = data.draw(st.sampled_from(["keep", "keep", "truncate", "overwrite", "insert"]))
    if not body:
        return body
    at = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    if action == "truncate":
        return body[:at]
    if action == "overwrite":
        return body[:at] + bytes([data.draw(st.integers(min_value=0, max_value=255))]) + body[at + 1 :]
    if action == "insert":
        return body[:at] + data.draw(unicode_text).encode("utf-8", "surrogatepass") + body[at:]
    return body


def _tree(path: Path) -> Any:
    """The fixture's JSON tree, or None when the fixture is deliberately not plain JSON."""
    try:
        return json.loads(path.read_bytes())
    except ValueError:
        return None


# what the receiver runs ---------------------------------------------------------------------------------------


def assert_events(events: Any) -> None:
    assert isinstance(events, list)
    for event in events:
        assert isinstance(event, Event)
        event.model_dump_json()  # what stores and sinks do with it


def run_named(dialect: Dialect, body: bytes, ctx: NormalizeContext) -> None:
    try:
        document = dialect.decode(body)
        events = dialect.normalize(document, ctx)
    except Unidentifiable:
        return
    assert_events(events)


def run_auto(body: bytes, headers: dict[str, str], ctx: NormalizeContext) -> None:
    try:
        found, document = dialects.detect(body, headers)
        events = found.normalize(document, ctx)
    except Unidentifiable:
        return
    assert_events(events)


def run_verify(dialect: Dialect, body: bytes, headers: dict[str, str]) -> None:
    raw = RawCallback(source="fuzz", body=body, headers=headers, received_at=NOW, path="/callbacks/fuzz")
    assert isinstance(dialect.verify(raw, POLICY, NOW), Verification)


@pytest.mark.parametrize("name", DIALECTS)
def test_mutated_fixtures_are_normalized_or_quarantined(name: str) -> None:
    dialect = dialects.get(name)
    paths = fixtures_of(name)
    originals = {path: _tree(path) for path in paths}

    @settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(paths), label="fixture")
        original = originals[path]
        if original is None:  # not JSON as it stands (Base64, a doc sample's trailing comma): bytes only
            body = mutate_bytes(path.read_bytes(), data)
        else:
            body = mutate_bytes(serialize(mutate_tree(json.loads(json.dumps(original)), data), data), data)
        headers = headers_of(path)
        ctx = context_of(path, name)
        run_verify(dialect, body, headers)
        run_named(dialect, body, ctx)
        run_auto(body, headers, ctx)

    check()


@pytest.mark.parametrize("name", DIALECTS)
def test_every_fixture_unmutated_passes_the_same_checks(name: str) -> None:
    """The baseline: each fixture as it is goes through verify, detect and normalize without a crash."""
    dialect = dialects.get(name)
    for path in fixtures_of(name):
        body, headers, ctx = path.read_bytes(), headers_of(path), context_of(path, name)
        run_verify(dialect, body, headers)
        run_named(dialect, body, ctx)
        run_auto(body, headers, ctx)
