"""Documents we fetch ourselves (poll, pull) take the callbacks' path, and normalize the same on a re-drive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from receiver.clock import ManualClock
from receiver.config import load_settings
from receiver.ingest import Pipeline
from receiver.model import Origin, Status
from receiver.store.base import CaptureState
from receiver.store.sqlite import SqliteStore
from tests.conftest import FIXTURES

TASK = "1251989944-Procedure-d7c9631c15ecf653b1ff67e34cb04692"


@pytest.mark.anyio
async def test_a_poll_answer_normalizes_again_from_its_capture(tmp_path: Path) -> None:
    """GetProcedureInfo's answer omits the task id; the capture keeps the API and the id asked for."""
    settings = load_settings(data_dir=tmp_path / "data")
    store = SqliteStore(settings.sqlite_path)
    await store.open()
    try:
        pipeline = Pipeline(store, settings.sources, ManualClock())
        body = (FIXTURES / "tencent-vod-v2" / "query" / "GetProcedureInfo.json").read_bytes()
        applied = await pipeline.ingest_document(
            "tencent-vod-v2", json.loads(body), body, Origin.POLL, api="GetProcedureInfo", task_id_hint=TASK
        )
        assert [a.event.task_id for a in applied] == [TASK]
        capture = await store.get_capture(applied[0].event.capture_id or 0)
        assert capture is not None and capture.state is CaptureState.PROCESSED
        again = pipeline.process(capture)  # what a re-drive or `vodhook reprocess` does
        assert again.error is None
        assert [e.event_id for e in again.events] == [applied[0].event.event_id]
        assert again.events[0].status is Status.PROCESSING
    finally:
        await store.close()
