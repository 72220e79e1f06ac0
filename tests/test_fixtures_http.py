"""Every fixture of every dialect through real HTTP, to its own dialect's source and to `auto`.

No 5xx; both routes reach the same result (auto-detection recognises every dialect); every fixture is
normalized, except those named `__invalid`/`__unidentifiable`, which must be quarantined.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver import dialects
from tests.conftest import FIXTURES, RunningReceiver, fixture_files, fixture_headers

ALL = fixture_files()


def _expect_quarantine(path: Path) -> bool:
    return "__invalid" in path.name or "__unidentifiable" in path.name


def test_there_are_fixtures_for_every_dialect() -> None:
    for name in dialects.registry():
        assert fixture_files(name), f"no fixtures for dialect {name}"


@pytest.mark.parametrize("path", ALL, ids=[str(p.relative_to(FIXTURES)) for p in ALL])
def test_fixture_over_http(receiver: RunningReceiver, path: Path) -> None:
    dialect = path.relative_to(FIXTURES).parts[0]
    body = path.read_bytes()
    headers = fixture_headers(path)
    results = {}
    with receiver.client() as client:
        for source in (dialect, "auto"):
            response = client.post(f"/callbacks/{source}", content=body, headers=headers)
            assert response.status_code == 200, (source, response.text)
            results[source] = response.json()["capture_id"]
        receiver.drain()
        captures = {}
        for source, capture_id in results.items():
            state = client.get("/api/quarantine", params={"source": source}).json()["items"]
            captures[source] = next((c for c in state if c["id"] == capture_id), None)
        events = client.get("/api/events", params={"source": dialect, "limit": 1000}).json()["items"]
        auto_events = client.get("/api/events", params={"source": "auto", "limit": 1000}).json()["items"]
    if _expect_quarantine(path):
        assert captures[dialect] is not None and captures["auto"] is not None, "expected quarantine"
        assert captures[dialect]["error"]
        return
    assert captures[dialect] is None, f"quarantined: {captures[dialect] and captures[dialect]['error']}"
    assert captures["auto"] is None, f"auto quarantined: {captures['auto'] and captures['auto']['error']}"
    own = [e for e in events if e["capture_id"] == results[dialect]]
    assert own, "the capture produced no event"
    assert all(e["dialect"] == dialect for e in own)
    # The same content through `auto` is the same event: it was deduplicated onto the first capture's ids.
    assert not [e for e in auto_events if e["capture_id"] == results["auto"]]
