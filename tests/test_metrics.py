"""`GET /metrics` over real HTTP: the receiver's own health (processing backlog, quarantine, refusals, the
outbox, the processing worker) next to the fallback's counters."""

from __future__ import annotations

from pathlib import Path

from receiver.config import load_settings
from tests.conftest import FIXTURES, RunningReceiver, fixture_headers, free_port, serve_in_thread


def scrape(receiver: RunningReceiver) -> dict[str, float]:
    """Every sample line of the scrape, by its name and labels as Prometheus prints them."""
    with receiver.client() as http:
        response = http.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    return samples


def test_metrics_show_quarantine_refusals_and_messages_a_sink_has_not_taken(tmp_path: Path) -> None:
    sources = {
        "v2": {"dialect": "tencent-vod-v2"},
        "ali": {"dialect": "aliyun-vod", "keys": ["k"], "public_url": "https://example.com/cb"},
    }
    nobody_listens = f"http://127.0.0.1:{free_port()}/hook"
    sinks = {"hook": {"type": "http", "url": nobody_listens, "backoff_base_s": 30.0, "poll_s": 0.05}}
    running = serve_in_thread(load_settings(data_dir=tmp_path / "data", sources=sources, sinks=sinks))
    try:
        good = FIXTURES / "tencent-vod-v2" / "ClipComplete.json"
        signed = FIXTURES / "aliyun-vod" / "TranscodeComplete__signed.json"
        with running.client() as http:
            assert http.post("/callbacks/v2", content=good.read_bytes(), headers=fixture_headers(good)).is_success
            assert http.post("/callbacks/v2", content=b'{"no": "event here"}').is_success
            assert http.post("/callbacks/ali", content=signed.read_bytes()).status_code == 401  # not signed with "k"
        running.drain()
        samples = scrape(running)
    finally:
        running.stop()
    assert samples['vodhook_captures{state="pending"}'] == 0
    assert samples['vodhook_captures{state="quarantined"}'] == 1
    assert samples['vodhook_captures{state="refused"}'] == 1
    assert samples["vodhook_refused_signatures_total"] == 1
    assert samples['vodhook_outbox_messages{sink="hook",state="pending"}'] >= 1  # the sink is down: it waits
    assert "vodhook_worker_up" not in samples  # processing inline: there is no worker to report
    for fallback in ("recovered", "queries", "status_listings", "spared"):  # the fallback's counters are there too
        assert samples[f"vodhook_fallback_{fallback}_total"] == 0


def test_pending_captures_are_the_backlog_and_the_worker_reports_itself(tmp_path: Path) -> None:
    good = FIXTURES / "tencent-vod-v2" / "ClipComplete.json"
    capture_only = serve_in_thread(load_settings(data_dir=tmp_path / "data", process=False))
    try:
        with capture_only.client() as http:
            for _ in range(3):
                assert http.post("/callbacks/tencent-vod-v2", content=good.read_bytes()).is_success
        assert scrape(capture_only)['vodhook_captures{state="pending"}'] == 3
    finally:
        capture_only.stop()
    with_worker = serve_in_thread(load_settings(data_dir=tmp_path / "data", processing="worker"))
    try:
        with_worker.drain()  # the worker processes what capture-only mode left pending
        samples = scrape(with_worker)
    finally:
        with_worker.stop()
    assert samples['vodhook_captures{state="pending"}'] == 0
    assert samples["vodhook_worker_up"] == 1
    assert samples["vodhook_worker_restarts_total"] == 0
