"""The control API, the clock, scenarios and the `emulate` command's option handling."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from receiver.emulator.cli import build_config, emulate
from receiver.emulator.config import Dialect, EmulatorConfig
from receiver.emulator.scenario import load_scenario
from tests.emulator.conftest import EmulatorFactory, Sink, balanced


def test_task_lifecycle_by_hand(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-vod-v3", kind="transcode", scenario="fail")
    assert task["status"] == "WAITING" and task["kind"] == "transcode"
    assert control.advance(task["task_id"])["status"] == "PROCESSING"
    done = control.advance(task["task_id"])
    assert done["status"] == "FINISH" and {o["status"] for o in done["outputs"]} == {"FAIL"}
    states = [e["detail"]["change"] for e in control.entries("task_state", task_id=task["task_id"])]
    assert states == ["processing", "output", "output", "output", "finish"]
    assert control.http.get(f"/_emulator/tasks/{task['task_id']}").json()["status"] == "FINISH"


def test_tasks_move_by_the_clock(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("aliyun-vod", durations={"waiting_s": 5, "processing_s": 30})
    control.clock(advance_s=4)
    assert control.http.get(f"/_emulator/tasks/{task['task_id']}").json()["status"] == "WAITING"
    control.clock(advance_s=2)
    assert control.http.get(f"/_emulator/tasks/{task['task_id']}").json()["status"] == "PROCESSING"
    control.clock(advance_s=30)
    assert control.http.get(f"/_emulator/tasks/{task['task_id']}").json()["status"] == "FINISH"
    entries = control.entries("task_state", task_id=task["task_id"])
    # times on the emulator clock: the finish is recorded 35 s of emulator time after creation
    assert entries[-1]["detail"]["at_task_time"] > entries[0]["detail"]["at_task_time"]


def test_advance_straight_to_finish_and_validation(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-mps")
    assert control.advance(task["task_id"], "FINISH")["status"] == "FINISH"
    assert control.http.post("/_emulator/tasks/nope/advance", json={}).status_code == 404
    assert control.http.post(f"/_emulator/tasks/{task['task_id']}/advance", json={"to": "DONE"}).status_code == 400
    bad = control.http.post("/_emulator/tasks", json={"dialect": "tencent-mps", "kind": "clip"})
    assert bad.status_code == 400 and "kind" in bad.json()["error"]
    assert control.http.post("/_emulator/tasks", json={"dialect": "nope"}).status_code == 400
    assert control.http.post("/_emulator/tasks", json={"dialect": "aliyun-vod", "scenario": "meh"}).status_code == 400
    assert control.http.post("/_emulator/clock", json={"advance_s": -1}).status_code == 400
    assert control.http.post("/_emulator/clock", json={"set": "2000-01-01T00:00:00Z"}).status_code == 400


def test_partial_needs_and_gets_two_outputs(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("aliyun-vod", scenario="partial", outputs=[{"definition": "HD"}])
    assert len(task["outputs"]) == 2
    done = control.finish(task["task_id"])
    assert [o["status"] for o in done["outputs"]] == ["SUCCESS", "FAIL"]


def test_ids_are_realistic_and_seeded(emulator: EmulatorFactory) -> None:
    a, b = emulator(EmulatorConfig(time_scale=0, seed=3)), emulator(EmulatorConfig(time_scale=0, seed=3))
    for dialect in ("tencent-vod-v2", "tencent-vod-v3", "tencent-mps", "aliyun-vod"):
        first, second = a.create(dialect), b.create(dialect)
        assert first["task_id"] == second["task_id"] and first["file_id"] == second["file_id"]
    ids = [t["task_id"] for t in a.http.get("/_emulator/tasks").json()["tasks"]]
    assert ids[0].startswith("1500000000-procedurev2-") and len(ids[0].rsplit("-", 1)[1]) == 32
    assert ids[1].endswith("t0") and "-WorkflowTask-" in ids[2]
    assert len(ids[3]) == 32 and int(ids[3], 16) >= 0


def test_ledger_filters_and_summary(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-vod-v2")
    other = control.create("tencent-vod-v2")
    assert [e["task_id"] for e in control.entries("task_created")] == [task["task_id"], other["task_id"]]
    ledger = control.ledger(since=1)
    assert ledger["entries"][0]["seq"] == 2
    assert ledger["summary"]["tasks"] == 2 and balanced(ledger["summary"])
    assert control.http.get("/_emulator/ledger", params={"since": "x"}).status_code == 400


def test_time_scale_can_change_at_runtime(emulator: EmulatorFactory) -> None:
    control = emulator()
    assert control.clock(time_scale=2.0)["time_scale"] == 2.0
    assert control.http.get("/_emulator/config").json()["time_scale"] == 2.0


def test_not_a_provider_request(emulator: EmulatorFactory) -> None:
    control = emulator()
    assert control.http.post("/", content=b"hello").status_code == 404


SCENARIO = """
seed = 11
time_scale = 0
start = "2026-03-01T08:00:00Z"

[faults]
duplicate = 0.5

[[tasks]]
dialect = "aliyun-vod"
scenario = "partial"
durations = { waiting_s = 1, processing_s = 20 }

[[tasks]]
at_s = 30
count = 2
dialect = "tencent-mps"
durations = { waiting_s = 0, processing_s = 10 }
faults = { drop = 1.0 }
"""


def _replay(emulator: EmulatorFactory, sink: Sink, path: Path) -> list[tuple[str, bytes]]:
    scenario = load_scenario(path)
    config = EmulatorConfig(
        dialects={
            "aliyun-vod": {"callback_url": sink.url("/a"), "callback_key": "AbCd1234"},
            "tencent-mps": {"callback_url": sink.url("/m")},
        }
    )
    control = emulator(config, scenario=scenario)
    control.clock(advance_s=60)
    summary = control.settle()["summary"]
    assert balanced(summary) and summary["tasks"] == 3
    got = [(r.path, r.body) for r in sink.received]
    sink.received.clear()
    return got


def test_scenario_replays_the_same_way_every_time(emulator: EmulatorFactory, sink: Sink, tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(SCENARIO)
    first = _replay(emulator, sink, path)
    second = _replay(emulator, sink, path)
    assert first == second
    assert [p for p, _ in first].count("/m") == 0  # MPS callbacks all dropped by the task faults
    assert json.loads(first[-1][1])["EventTime"] == "2026-03-01T08:00:21Z"

    as_json = tmp_path / "scenario.json"
    as_json.write_text(json.dumps(tomllib.loads(SCENARIO)))
    assert _replay(emulator, sink, as_json) == first


def test_scenario_errors_are_clear(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[tasks]]\ndialect = "aliyun-vod"\ncolour = "red"\n')
    with pytest.raises(ValueError, match="colour"):
        load_scenario(path)


def test_cli_flags_build_the_config() -> None:
    config = build_config(
        {
            "credential": ("AKID1:secret1", "AKID2:secret2"),
            "callback": ("aliyun-vod=http://127.0.0.1:1/cb",),
            "callback_key": ("aliyun-vod=AbCd1234",),
            "pull": ("tencent-vod-v3",),
            "notify_mode": ("tencent-mps=Change",),
            "drop": 0.25,
            "delay": 1.0,
            "delay_range": "0.1:0.2",
            "slow_answer": 0.5,
            "slow_answer_s": 3.0,
            "seed": 5,
            "time_scale": 0.0,
            "no_rate_limits": True,
        }
    )
    assert config.keyring() == {"AKID1": "secret1", "AKID2": "secret2"}
    assert config.dialect(Dialect.ALIYUN_VOD).callback_key == "AbCd1234"
    assert config.dialect(Dialect.TENCENT_VOD_V3).mode == "pull"
    assert config.dialect(Dialect.TENCENT_MPS).notify_mode == "Change"
    assert (config.faults.drop, config.faults.delay_s, config.faults.slow_answer_s) == (0.25, (0.1, 0.2), 3.0)
    assert (config.seed, config.time_scale, config.enforce_rate_limits) == (5, 0.0, False)
    assert build_config({}).keyring() == {"test": "test"}


def test_cli_rejects_bad_flags() -> None:
    runner = CliRunner()
    result = runner.invoke(emulate, ["--callback", "nope=http://x", "--port", "0"])
    assert result.exit_code != 0 and "unknown dialect" in result.output
    result = runner.invoke(emulate, ["--pull", "aliyun-vod"])
    assert result.exit_code != 0 and "no reliable-callback" in result.output
    result = runner.invoke(emulate, ["--drop", "2"])
    assert result.exit_code != 0
    assert "--corrupt-signature" in runner.invoke(emulate, ["--help"]).output


def test_vodhook_emulate_serves_https_with_its_ca(tmp_path: Path) -> None:
    """The real command: `vodhook emulate --tls` prints the credentials and serves the CA it made."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    vodhook = Path(sys.executable).with_name("vodhook")
    process = subprocess.Popen(
        [
            str(vodhook),
            "emulate",
            "--port",
            str(port),
            "--tls",
            "--tls-dir",
            str(tmp_path / "tls"),
            "--time-scale",
            "0",
            "--seed",
            "9",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        ca = tmp_path / "tls" / "ca.pem"
        deadline = time.monotonic() + 30
        while True:
            try:
                if ca.exists():
                    context = ssl.create_default_context(cafile=str(ca))
                    with httpx.Client(verify=context) as client:
                        served = client.get(f"https://127.0.0.1:{port}/_emulator/ca.pem")
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "vodhook emulate did not start"
            time.sleep(0.1)
        assert served.content == ca.read_bytes()
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "test / test" in output and "SSL_CERT_FILE" in output
