"""A receiver killed with SIGKILL right after answering processes the capture when it starts again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.test_receiver_http import TASK, procedure, transcode_subtask


@contextmanager
def vodhook_process(data_dir: Path, **env: str) -> Iterator[str]:
    """`python -m receiver serve` as a real process; yields its base URL; SIGKILLs it on exit."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "receiver", "--data-dir", str(data_dir), "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vodhook did not start: {process.stderr.read() if process.stderr else ''!r}")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if process.stderr:
            process.stderr.close()


def test_a_capture_answered_before_a_sigkill_is_processed_on_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    body = procedure("FINISH", [transcode_subtask(20, "SUCCESS")])
    # Capture-only mode holds processing back, so the kill certainly lands between answer and processing.
    with vodhook_process(data_dir, VODHOOK_PROCESS="false") as url:
        response = httpx.post(f"{url}/callbacks/tencent-vod-v2", content=body, timeout=10)
        assert response.status_code == 200
    # Killed: the answer promised a durable capture, still pending.
    with closing(sqlite3.connect(data_dir / "vodhook.sqlite3")) as conn:
        assert conn.execute("SELECT state FROM captures").fetchall() == [("pending",)]
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)
    with vodhook_process(data_dir) as url:
        deadline = time.monotonic() + 30
        while True:
            found = httpx.get(f"{url}/api/tasks/tencent-vod/{TASK}", timeout=5)
            if found.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert found.status_code == 200
        assert found.json()["task"]["status"] == "finished"
        assert found.json()["task"]["outcome"] == "success"


def test_every_answered_callback_survives_a_sigkill_after_the_last_answer(tmp_path: Path) -> None:
    """Kill the receiver right after its last answer: every 200 it gave is a capture that gets processed."""
    data_dir = tmp_path / "data"
    accepted: list[int] = []
    with vodhook_process(data_dir) as url, httpx.Client(base_url=url, timeout=10) as client:
        for index in range(200):
            body = procedure("FINISH").replace(TASK.encode(), f"task-{index}".encode())
            response = client.post("/callbacks/tencent-vod-v2", content=body)
            if response.status_code == 200:
                accepted.append(response.json()["capture_id"])
    with vodhook_process(data_dir) as url:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with closing(sqlite3.connect(data_dir / "vodhook.sqlite3")) as conn:
                pending = conn.execute("SELECT count(*) FROM captures WHERE state = 'pending'").fetchone()[0]
            if pending == 0:
                break
            time.sleep(0.1)
        with closing(sqlite3.connect(data_dir / "vodhook.sqlite3")) as conn:
            states = dict(conn.execute("SELECT id, state FROM captures").fetchall())
            tasks = conn.execute("SELECT count(*) FROM tasks").fetchone()[0]
    assert len(accepted) == 200
    assert all(states[capture_id] == "processed" for capture_id in accepted)
    assert tasks == 200
