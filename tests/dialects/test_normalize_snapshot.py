"""Normalization output is pinned byte for byte: speed work on the dialects must not change what they produce.

`event_id` is a content hash kept in users' data dirs, so an event serialized differently (a field, its order,
a number rendered as 1.0 instead of 1, a warning's wording) would orphan every stored id. The snapshot under
snapshots/ was written once from the code before the fast paths existed (and rewritten once by the same code,
when the rendering stopped pinning the json module's words, with every other rendering checked unchanged); this
test holds every later version of the dialects to it:

- every fixture of every dialect, in the benchmark's context (bench/normalize.py `fixture_context`, with a
  fixed `received_at`), as each event's `model_dump_json()` (event id and warnings included) or the
  quarantine error, through both `decode` + `normalize` and the bytes-level `normalize_body`;
- a few hundred deterministic mutations of those fixtures (type swaps, numbers as strings, dropped and
  renamed keys, odd unicode, duplicate keys, ...), as a hash of the same rendering, so the fast paths also
  take the slow path's decisions on the bodies real providers send when they break their own docs;
- for every fixture event (and every event of those mutations), `Event.model_validate(event.model_dump())`
  gives the same values of the same types: events are built without validation (`Event.assemble`), so they
  must hold exactly what validation would make; `Event.build` must stamp the same id; likewise the task state
  each event would start (`state._new_task`, built the same way);
- property-based: bodies nudged so that most stay valid (numbers as text or with a fraction, nulls, unknown
  keys, odd unicode), so that the dialects' fast paths take them, give from `normalize_body` exactly what
  `normalize(decode(body))` gives.

Regenerate (only when an output change is intended and the stored ids are migrated):
    python -m tests.dialects.test_normalize_snapshot --write
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import random
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from receiver import dialects
from receiver.dialects.base import Dialect, NormalizeContext, Unidentifiable
from receiver.model import Event, Origin, Task
from receiver.state import merge
from tests.test_fuzz_fixtures import slots

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "normalize.json"
RECEIVED = datetime(2024, 1, 1, tzinfo=UTC)
MUTATIONS_PER_FIXTURE = 12


def fixtures_of(name: str) -> list[Path]:
    root = FIXTURES / name
    return sorted(p for p in root.rglob("*.json") if not p.name.endswith(".headers.json"))


def fixture_context(path: Path, root: Path) -> NormalizeContext:
    """As bench/normalize.py: a query answer (under query/) is a poll of the API its file is named after."""
    query = path.parent.name == "query" and path.parent.parent == root
    return NormalizeContext(
        source="bench",
        origin=Origin.POLL if query else Origin.CALLBACK,
        received_at=RECEIVED,
        api=path.stem.split("__")[0] if query else None,
        task_id_hint="bench-task" if query else None,
    )


DIALECTS = [name for name in dialects.registry() if fixtures_of(name)]


#: How the quarantine words a body that is not JSON: the json module's own words, which change between Python
#: versions (3.13 says "Illegal trailing comma before end of object at line 10 column 41" where 3.11 said
#: "Expecting property name enclosed in double quotes at line 11 column 1").
_JSON_ERROR = re.compile(r"body is not JSON: .*? at line \d+ column \d+")


def render(run: Any) -> list[str]:
    """What one normalization produced: each event's JSON, or the quarantine error (or any other crash). Of a
    body that is not JSON, the fact is pinned and where the quarantine says so, not the json module's words."""
    try:
        events = run()
    except Unidentifiable as exc:
        return [f"Unidentifiable: {_JSON_ERROR.sub('body is not JSON: (json says why)', str(exc))}"]
    except Exception as exc:  # a crash is pinned too: a fast path must not turn it into a result silently
        return [f"{type(exc).__name__}: {exc}"]
    return [event.model_dump_json() for event in events]


def via_document(dialect: Dialect, body: bytes, ctx: NormalizeContext) -> list[str]:
    return render(lambda: dialect.normalize(dialect.decode(body), ctx))


def via_body(dialect: Dialect, body: bytes, ctx: NormalizeContext) -> list[str]:
    normalize_body = getattr(dialect, "normalize_body", None)
    if normalize_body is None:  # the snapshot was written before the bytes-level entry point existed
        return via_document(dialect, body, ctx)
    return render(lambda: normalize_body(body, ctx))


def digest(rendered: list[str]) -> str:
    return hashlib.sha256("\n".join(rendered).encode("utf-8", "surrogatepass")).hexdigest()


# deterministic mutations ----------------------------------------------------------------------------------------

_ODD_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "1.5",
    "1e3",
    "null",
    "true",
    "0000-00-00T00:00:00Z",
    "2019-13-45T25:61:61Z",
    "2019-01-23T12:35:12:123Z",
    "019-01-23T12:35:12Z",
    "1700000000",
    "1700000000000",
    "FINISH",
    "SUCCESS",
    "FAIL",
    "中文",
    "\u0000",
    "\ud800",
    "é\u0301",
    "[1, 2]",
    '{"a": 1}',
    '"[]"',
    "Transcode",
]
_ODD_VALUES: list[Any] = [None, True, False, 0, 1, -1, 2**63, 2**70, 1.0, 1.5, -0.0, 1e300, [], {}, [None], {"x": 1}]


def _mutate_tree(document: Any, rng: random.Random, odd_values: list[Any]) -> Any:
    for _ in range(rng.randint(1, 3)):
        places = slots(document)
        if not places:
            return rng.choice(odd_values)
        container, key = rng.choice(places)
        value = container[key]
        action = rng.choice(["drop", "swap", "stringify", "text", "numeric", "key_space", "null", "nest", "float"])
        if action == "drop":
            del container[key]
        elif action == "swap":
            container[key] = rng.choice(odd_values)
        elif action == "stringify":
            container[key] = json.dumps(value) if not isinstance(value, str) else value
        elif action == "text":
            container[key] = rng.choice(_ODD_TEXT)
        elif action == "numeric":
            container[key] = str(value) if isinstance(value, int | float) else rng.choice(["12", "12.0", " 7 "])
        elif action == "key_space" and isinstance(container, dict):
            container[f"{key} "] = container.pop(key)
        elif action == "nest":
            container[key] = [value] if rng.random() < 0.5 else {"v": value}
        elif action == "float" and isinstance(value, int) and not isinstance(value, bool):
            container[key] = float(value)
        else:
            container[key] = None
    return document


def _mutate_bytes(body: bytes, rng: random.Random) -> bytes:
    action = rng.choice(["keep", "keep", "keep", "bom", "space", "truncate", "duplicate", "escape", "byte"])
    if action == "bom":
        return b"\xef\xbb\xbf" + body
    if action == "space":
        return b" \n\t" + body + b"\r\n"
    if action == "truncate" and body:
        return body[: rng.randrange(len(body))]
    if action == "duplicate" and body.startswith(b"{") and len(body) > 2:
        # a duplicate key: the first "key": value pair repeated with another value at the end
        return body[:-1].rstrip() + (b', "eventType": "Dup"}' if rng.random() < 0.5 else b', "data": null}')
    if action == "escape":
        return body.replace(b'"', b'"\\u00e9', 1) if rng.random() < 0.5 else body.replace(b"a", b"\\ud83d", 1)
    if action == "byte" and body:
        at = rng.randrange(len(body))
        return body[:at] + bytes([rng.randrange(256)]) + body[at + 1 :]
    return body


def _mutations_of(path: Path, odd_values: list[Any]) -> list[bytes]:
    body = path.read_bytes()
    try:
        tree = json.loads(body)
    except ValueError:
        tree = None
    out = []
    for index in range(MUTATIONS_PER_FIXTURE):
        rng = random.Random(f"{path.relative_to(FIXTURES)}#{index}")
        mutated = body
        if tree is not None and rng.random() < 0.85:
            document = _mutate_tree(json.loads(body), rng, odd_values)
            mutated = json.dumps(document, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        out.append(_mutate_bytes(mutated, rng))
    return out


@functools.cache
def _all_mutations() -> dict[Path, list[bytes]]:
    """Every fixture's mutations, made in one pass over every dialect in `DIALECTS` order, as `write` made them.

    A swap puts the pool's own list or dict into a document, not a copy, and a later step may edit it in place
    (`{"x": 1}` became `{"x ": 1}`, then `{"x ": "1"}`): later fixtures' mutations draw the edited value. The
    snapshot pins the bodies of that one pass, so the bodies of a dialect must not depend on which tests ran
    before (one dialect alone drew `{"x": 1}`): the pass runs once, from a fresh copy of the pool.
    """
    odd_values = copy.deepcopy(_ODD_VALUES)
    return {path: _mutations_of(path, odd_values) for name in DIALECTS for path in fixtures_of(name)}


def mutations(path: Path) -> list[bytes]:
    return _all_mutations()[path]


# the snapshot ---------------------------------------------------------------------------------------------------


def current(name: str) -> dict[str, Any]:
    """This code's rendering of dialect `name`: fixtures in full, mutations as digests."""
    dialect = dialects.get(name)
    root = FIXTURES / name
    fixtures: dict[str, list[str]] = {}
    mutated: dict[str, list[str]] = {}
    for path in fixtures_of(name):
        ctx = fixture_context(path, root)
        key = str(path.relative_to(root))
        fixtures[key] = via_document(dialect, path.read_bytes(), ctx)
        mutated[key] = [digest(via_document(dialect, body, ctx)) for body in mutations(path)]
    return {"fixtures": fixtures, "mutated": mutated}


def stored() -> dict[str, Any]:
    return json.loads(SNAPSHOT.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def snapshot() -> dict[str, Any]:
    return stored()


def test_the_snapshot_covers_every_dialect_and_fixture(snapshot: dict[str, Any]) -> None:
    assert sorted(snapshot) == sorted(DIALECTS)
    for name in DIALECTS:
        root = FIXTURES / name
        assert sorted(snapshot[name]["fixtures"]) == sorted(str(p.relative_to(root)) for p in fixtures_of(name))


@pytest.mark.parametrize("name", DIALECTS)
def test_fixtures_normalize_byte_identically(name: str, snapshot: dict[str, Any]) -> None:
    dialect = dialects.get(name)
    root = FIXTURES / name
    expected = snapshot[name]["fixtures"]
    produced_events = 0
    for path in fixtures_of(name):
        key = str(path.relative_to(root))
        ctx = fixture_context(path, root)
        body = path.read_bytes()
        assert via_document(dialect, body, ctx) == expected[key], f"{name}/{key} via decode + normalize"
        assert via_body(dialect, body, ctx) == expected[key], f"{name}/{key} via normalize_body"
        produced_events += sum(1 for line in expected[key] if line.startswith("{"))
    assert produced_events > 0


@pytest.mark.parametrize("name", DIALECTS)
def test_mutated_fixtures_normalize_identically(name: str, snapshot: dict[str, Any]) -> None:
    dialect = dialects.get(name)
    root = FIXTURES / name
    expected = snapshot[name]["mutated"]
    for path in fixtures_of(name):
        key = str(path.relative_to(root))
        ctx = fixture_context(path, root)
        for index, body in enumerate(mutations(path)):
            want = expected[key][index]
            assert digest(via_document(dialect, body, ctx)) == want, f"{name}/{key} mutation {index}: {body[:300]!r}"
            assert digest(via_body(dialect, body, ctx)) == want, f"{name}/{key} mutation {index} via normalize_body"
            try:
                events = dialect.normalize(dialect.decode(body), ctx)
            except Unidentifiable:
                continue
            for event in events:
                _assert_same_values(event, Event.model_validate(event.model_dump()), f"{name}/{key} mutation {index}")
                _assert_first_task_validates(event, f"{name}/{key} mutation {index}")


def _assert_first_task_validates(event: Event, where: str) -> None:
    """The task state an event starts (built without validation, `state._new_task`) holds exactly what
    validation would make of it."""
    task, _ = merge(None, event, RECEIVED)
    if task is not None:
        _assert_same_values(task, Task.model_validate(task.model_dump()), f"{where} (its task)")


def _assert_same_values(built: Any, validated: Any, where: str) -> None:
    """Equal values of identical types, all the way down (StrEnum members equal plain strings, 1 == 1.0)."""
    assert type(built) is type(validated), f"{where}: {type(built).__name__} where validation gives {validated!r}"
    if isinstance(built, BaseModel):
        for field in type(built).model_fields:
            _assert_same_values(getattr(built, field), getattr(validated, field), f"{where}.{field}")
    elif isinstance(built, dict):
        assert list(built) == list(validated), where
        for key in built:
            _assert_same_values(built[key], validated[key], f"{where}.{key}")
    elif isinstance(built, list):
        assert len(built) == len(validated), where
        for index, (left, right) in enumerate(zip(built, validated, strict=True)):
            _assert_same_values(left, right, f"{where}[{index}]")
    elif isinstance(built, datetime):
        assert built == validated and built.utcoffset() == validated.utcoffset(), where
    else:
        assert built == validated, where


@pytest.mark.parametrize("name", DIALECTS)
def test_events_hold_what_validation_would_make(name: str) -> None:
    dialect = dialects.get(name)
    root = FIXTURES / name
    for path in fixtures_of(name):
        ctx = fixture_context(path, root)
        try:
            events = dialect.normalize(dialect.decode(path.read_bytes()), ctx)
        except Unidentifiable:
            continue
        for event in events:
            validated = Event.model_validate(event.model_dump())
            assert validated == event
            _assert_same_values(event, validated, f"{name}/{path.relative_to(root)}")
            _assert_first_task_validates(event, f"{name}/{path.relative_to(root)}")
            # `Event.build` (validating) and the dialects' `Event.assemble` stamp the same id.
            fields = {field: getattr(event, field) for field in Event.model_fields if field != "event_id"}
            assert Event.build(**fields).model_dump_json() == event.model_dump_json()


# the fast paths against the ordinary path ------------------------------------------------------------------------

_NUDGES = [
    "int_to_float",
    "int_to_text",
    "float_to_int",
    "float_to_text",
    "text_to_number",
    "null",
    "drop",
    "unknown_key",
    "huge",
    "unicode",
    "empty_text",
    "bool",
]


def _nudge(document: Any, data: st.DataObject) -> Any:
    """Small changes that keep most bodies valid, so that the fast paths take them: numbers written as text
    or with a fraction, nulls, dropped and unknown keys, odd unicode."""
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        places = slots(document)
        if not places:
            return document
        container, key = data.draw(st.sampled_from(places))
        value = container[key]
        nudge = data.draw(st.sampled_from(_NUDGES))
        if nudge == "int_to_float" and type(value) is int:
            container[key] = float(value)
        elif nudge == "int_to_text" and type(value) is int:
            container[key] = str(value)
        elif nudge == "float_to_int" and type(value) is float and value == value and abs(value) < 1e18:
            container[key] = int(value)
        elif nudge == "float_to_text" and type(value) is float:
            container[key] = repr(value)
        elif nudge == "text_to_number" and isinstance(value, str) and value.strip().lstrip("-").isdigit():
            container[key] = int(value)
        elif nudge == "null":
            container[key] = None
        elif nudge == "drop":
            del container[key]
        elif nudge == "unknown_key" and isinstance(value, dict):
            value[data.draw(st.sampled_from(["Extra", "extra ", "Error", "eventType", "EventType", "Response"]))] = (
                data.draw(st.sampled_from([1, 1.5, "x", None, [], {}, True]))
            )
        elif nudge == "huge" and type(value) in (int, float):
            container[key] = data.draw(st.sampled_from([2**64, -(2**70), 1e300, 1.5e-7, -0.0]))
        elif nudge == "unicode" and isinstance(value, str):
            container[key] = value + data.draw(st.sampled_from(["é", "中", "\u2028", " ", "\t", '"', "\\", "𝄞"]))
        elif nudge == "empty_text" and isinstance(value, str):
            container[key] = ""
        elif nudge == "bool":
            container[key] = data.draw(st.booleans())
    return document


@pytest.mark.parametrize("name", DIALECTS)
def test_the_fast_path_gives_what_the_ordinary_path_gives(name: str) -> None:
    """`normalize_body` takes a fast path for most bodies: it must give exactly `normalize(decode(body))`."""
    dialect = dialects.get(name)
    root = FIXTURES / name
    trees = {}
    for path in fixtures_of(name):
        try:
            trees[path] = json.loads(path.read_bytes())
        except ValueError:
            continue
    paths = sorted(trees)

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        path = data.draw(st.sampled_from(paths), label="fixture")
        document = _nudge(copy.deepcopy(trees[path]), data)
        body = json.dumps(document, ensure_ascii=data.draw(st.booleans())).encode()
        ctx = fixture_context(path, root)
        assert via_body(dialect, body, ctx) == via_document(dialect, body, ctx), body[:500]

    check()


def write() -> None:
    SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
    data = {name: current(name) for name in DIALECTS}
    SNAPSHOT.write_text(json.dumps(data, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {SNAPSHOT}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python -m tests.dialects.test_normalize_snapshot --write")
    write()
