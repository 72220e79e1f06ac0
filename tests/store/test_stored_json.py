"""The stores write events and task states with `event_json`/`task_json` (receiver/model.py), a faster build of
`model_dump_json`'s text: the stored text must stay exactly that, since every stored row is read back with it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from receiver.model import Event, event_json, task_json
from receiver.state import merge
from tests.dialects.test_content_id import _events
from tests.dialects.test_normalize_snapshot import DIALECTS


@pytest.mark.parametrize("name", DIALECTS)
def test_stored_text_of_events_and_tasks_is_model_dump_json(name: str) -> None:
    events = [event for _, event in _events(name)]
    assert events
    now = datetime(2024, 1, 1, tzinfo=UTC)
    tasks = [merge(None, event, now)[0] for event in events if event.task_key]
    assert any(tasks)
    for event in events:
        assert event_json(event) == event.model_dump_json()
        assert Event.model_validate_json(event_json(event)) == event
    for task in tasks:
        if task is not None:
            assert task_json(task) == task.model_dump_json()
