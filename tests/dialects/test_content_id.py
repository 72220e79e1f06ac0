"""`content_id` hashes exactly what `model_dump_json` writes for an event's content: its serializer
(receiver/model.py `_serializer`) is a faster build of the same bytes, and stored ids depend on them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from receiver import dialects
from receiver.dialects.base import Unidentifiable
from receiver.model import RECEIPT_FIELDS, Event, content_id
from tests.dialects.test_normalize_snapshot import DIALECTS, FIXTURES, fixture_context, fixtures_of


def _events(name: str) -> list[tuple[Path, Event]]:
    dialect = dialects.get(name)
    found = []
    for path in fixtures_of(name):
        try:
            events = dialect.normalize_body(path.read_bytes(), fixture_context(path, FIXTURES / name))
        except Unidentifiable:
            continue
        found.extend((path, event) for event in events)
    return found


@pytest.mark.parametrize("name", DIALECTS)
def test_content_id_hashes_the_model_dump_json_of_the_content(name: str) -> None:
    events = _events(name)
    assert events
    for path, event in events:
        canonical = event.model_dump_json(exclude=set(RECEIPT_FIELDS)).encode()
        assert event.event_id == content_id(event) == hashlib.sha256(canonical).hexdigest()[:32], path.name
