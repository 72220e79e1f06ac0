"""The fallback's command line: `vodhook tasks track|list` and `vodhook reconcile`, against a real emulator and a
real SQLite data dir, through click's CliRunner with a config file (and, once, beside a running receiver)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from receiver.cli import main
from receiver.config import Settings, load_settings
from receiver.emulator.config import EmulatorConfig
from receiver.fallback.scheduler import LEASE
from receiver.store.sqlite import SqliteStore
from tests.conftest import RunningReceiver
from tests.emulator.conftest import Control
from tests.fallback.conftest import SCENARIO_OUTCOME, busiest_window, ledger_time, wait_until

NOWHERE = "http://127.0.0.1:9/callbacks"  # the emulator drops every callback anyway


def toml_value(value: Any) -> str:
    return "true" if value is True else "false" if value is False else json.dumps(value)


def write_config(
    tmp_path: Path, emu: Control, dialect: str, source: dict[str, Any] | None = None, **fallback: Any
) -> Path:
    """A config with two sources of `dialect`'s family: `dialect` has fallback settings, `plain` has none."""
    own = {"secret_id": "test", "secret_key": "test", "endpoint": emu.server.url, **(source or {})}
    settings = {
        "enabled": True,
        "deadline_s": 0.01,
        "tick_s": 0.1,
        "backoff_base_s": 0.3,
        "backoff_max_s": 2.0,
        "sweep_interval_s": 0.3,
        **fallback,
    }
    lines = [
        f"data_dir = {toml_value(str(tmp_path / 'data'))}",
        f"[sources.{dialect}]",
        f"dialect = {toml_value(dialect)}",
        "[sources.plain]",
        f"dialect = {toml_value(dialect)}",
        "[fallback]",
    ]
    lines += [f"{key} = {toml_value(value)}" for key, value in settings.items()]
    lines += [f"[fallback.sources.{dialect}]"] + [f"{key} = {toml_value(value)}" for key, value in own.items()]
    path = tmp_path / "vodhook.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli(config: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(main, ["--config", str(config), *args])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result


def cli_json(config: Path, *args: str) -> Any:
    return json.loads(cli(config, *args, "--json").stdout)


def lease_holder(config: Path) -> str | None:
    async def read() -> str | None:
        store = SqliteStore(load_settings(config).sqlite_path)
        await store.open()
        try:
            return await store.lease_holder(LEASE)
        finally:
            await store.close()

    return asyncio.run(read())


def task_state(config: Path, provider: str, task_id: str) -> dict[str, Any]:
    state: dict[str, Any] = cli_json(config, "tasks", "show", provider, task_id)["task"]
    return state


def test_track_then_list_oldest_deadline_first_and_overdue(tmp_path: Path, emulator: Any) -> None:
    config = write_config(tmp_path, emulator(), "tencent-vod-v2")
    created = datetime.now(UTC) - timedelta(hours=2)
    later = cli_json(config, "tasks", "track", "tencent-vod-v2", "later", "--deadline", "3600")
    overdue = cli_json(
        config,
        "tasks",
        "track",
        "tencent-vod-v2",
        "overdue",
        "--deadline",
        "60",
        "--created-at",
        created.isoformat(),
        "--kind",
        "transcode",
    )
    assert overdue["deadline"] == (created + timedelta(seconds=60)).isoformat()
    assert (overdue["state"], overdue["via"], overdue["task_kind"], overdue["provider"]) == (
        "open",
        "user",
        "transcode",
        "tencent-vod",
    )
    default = cli(config, "tasks", "track", "tencent-vod-v2", "configured")  # the configured deadline (0.01 s)
    assert "tracking tencent-vod configured (source tencent-vod-v2)" in default.stdout

    listed = cli_json(config, "tasks", "list")
    assert [t["task_id"] for t in listed] == ["overdue", "configured", "later"]
    assert listed[0] == overdue and listed[2] == later  # the same rendering as `track --json` (and /api/tasks)
    assert [t["task_id"] for t in cli_json(config, "tasks", "list", "--overdue")] == ["overdue", "configured"]
    assert cli_json(config, "tasks", "list", "--lost") == []
    assert [t["task_id"] for t in cli_json(config, "tasks", "list", "--state", "open", "--limit", "1")] == ["overdue"]
    table = cli(config, "tasks", "list", "--overdue").stdout.splitlines()
    assert len(table) == 2 and table[0].startswith("open") and "overdue" in table[0]

    # registering an open task again gives it the new deadline
    again = cli_json(config, "tasks", "track", "tencent-vod-v2", "overdue", "--deadline", "7200")
    assert again["deadline"] > later["deadline"]
    assert [t["task_id"] for t in cli_json(config, "tasks", "list", "--overdue")] == ["configured"]


def test_post_api_tasks_and_track_are_one_registration(
    tmp_path: Path, emulator: Any, running: Callable[[Settings], RunningReceiver]
) -> None:
    config = write_config(tmp_path, emulator(), "tencent-vod-v2", deadline_s=3600.0)
    receiver = running(load_settings(config))
    created = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    with receiver.client() as http:
        posted = http.post(
            "/api/tasks",
            json={
                "source": "tencent-vod-v2",
                "task_id": "by-api",
                "deadline_s": 600,
                "created_at": f"{created:%Y-%m-%dT%H:%M:%S}",
                "task_kind": "transcode",
            },
        )
        assert posted.status_code == 201, posted.text
        unknown = http.post("/api/tasks", json={"source": "nope", "task_id": "x"})
        plain = http.post("/api/tasks", json={"source": "plain", "task_id": "x"})
    assert posted.json()["created_at"] == created.isoformat()  # no zone: UTC
    assert posted.json()["deadline"] == (created + timedelta(seconds=600)).isoformat()
    assert (unknown.status_code, plain.status_code) == (400, 400)
    assert "unknown source 'nope'" in unknown.json()["error"]
    assert "source 'plain' has no fallback settings" in plain.json()["error"]
    tracked = cli_json(config, "tasks", "track", "tencent-vod-v2", "by-cli", "--kind", "transcode")
    with receiver.client() as http:
        listed = http.get("/api/tasks").json()["items"]
    assert listed == cli_json(config, "tasks", "list") == [posted.json(), tracked]


def test_reconcile_without_a_server_recovers_tasks_whose_callbacks_were_all_dropped(
    tmp_path: Path, emulator: Any
) -> None:
    emu = emulator(EmulatorConfig(time_scale=0, faults={"drop": 1.0}))
    config = write_config(tmp_path, emu, "tencent-vod-v2")
    scenarios = ["success", "fail", "success", "fail"]
    created = [emu.create("tencent-vod-v2", kind="transcode", scenario=s, callback_url=NOWHERE) for s in scenarios]
    for task in created:
        emu.finish(task["task_id"])
    # the receiver never heard of them: only the sweep of the provider's listing finds them
    assert cli_json(config, "tasks", "list") == []

    summary = cli_json(config, "reconcile")
    assert summary["led"] is True and summary["leader"] is None
    assert (summary["discovered"], summary["checked"], summary["recovered"]) == (4, 4, 4)
    assert (summary["still_open"], summary["lost"], summary["deferred"], summary["errors"]) == (0, 0, 0, [])
    info = [q for q in emu.entries("query") if q["detail"]["action"] == "GetTaskInfo"]
    assert sorted(q["task_id"] for q in info) == sorted(t["task_id"] for t in created)  # each queried once
    assert summary["queries"] == len(emu.entries("query"))  # the task queries and the listing pages
    assert emu.ledger()["summary"]["delivered"] == 0
    for task, scenario in zip(created, scenarios, strict=True):
        state = task_state(config, "tencent-vod", task["task_id"])
        assert (state["status"], state["outcome"], state["last_origin"]) == (
            "finished",
            SCENARIO_OUTCOME[scenario],
            "poll",
        )
    assert len(cli_json(config, "tasks", "list", "--state", "recovered")) == 4
    assert lease_holder(config) is None  # the pass gave the scheduler lease back: a server may lead at once
    assert cli_json(config, "tasks", "list", "--overdue") == []

    # a second pass has nothing left to do, and says so in words
    text = cli(config, "reconcile").stdout
    assert "0 discovered; 0 tasks queried: 0 recovered, 0 lost, 0 still open" in text


def test_reconcile_marks_a_task_past_retention_lost(tmp_path: Path, emulator: Any) -> None:
    emu = emulator(EmulatorConfig(time_scale=0, faults={"drop": 1.0}))
    config = write_config(tmp_path, emu, "tencent-vod-v2", source={"sweep": False})
    old = emu.create("tencent-vod-v2", kind="transcode", age_s=73 * 3600.0, callback_url=NOWHERE)
    cli(
        config, "tasks", "track", "tencent-vod-v2", old["task_id"], "--created-at", old["created_at"], "--deadline", "0"
    )
    cli(config, "tasks", "track", "tencent-vod-v2", "young-unknown", "--deadline", "0")

    summary = cli_json(config, "reconcile")
    assert (summary["checked"], summary["lost"], summary["still_open"]) == (2, 1, 1)
    lost = cli_json(config, "tasks", "list", "--lost")
    assert [t["task_id"] for t in lost] == [old["task_id"]]
    assert lost[0]["resolved_at"] is not None and lost[0]["last_error"]
    # "not found" inside the retention window is not enough: that one stays open (and is no longer due)
    assert [t["task_id"] for t in cli_json(config, "tasks", "list", "--state", "open")] == ["young-unknown"]
    assert cli_json(config, "tasks", "list", "--overdue")[0]["attempts"] == 1


def test_reconcile_since_queries_every_recent_open_task_whatever_its_next_check(tmp_path: Path, emulator: Any) -> None:
    emu = emulator(EmulatorConfig(time_scale=0, faults={"drop": 1.0}))
    config = write_config(tmp_path, emu, "tencent-vod-v2", source={"sweep": False})
    before, after = (emu.create("tencent-vod-v2", kind="transcode", callback_url=NOWHERE) for _ in range(2))
    for task in (before, after):
        emu.finish(task["task_id"])
    cli(config, "tasks", "track", "tencent-vod-v2", before["task_id"], "--deadline", "3600")
    since = datetime.now(UTC)
    cli(config, "tasks", "track", "tencent-vod-v2", after["task_id"], "--deadline", "3600")

    plain = cli_json(config, "reconcile")  # neither is due for an hour
    assert (plain["checked"], plain["queries"]) == (0, 0)
    summary = cli_json(config, "reconcile", "--since", since.isoformat())
    assert (summary["checked"], summary["recovered"]) == (1, 1)
    assert summary["since"] == since.isoformat()
    assert [q["task_id"] for q in emu.entries("query")] == [after["task_id"]]
    assert task_state(config, "tencent-vod", after["task_id"])["status"] == "finished"
    assert [t["task_id"] for t in cli_json(config, "tasks", "list", "--state", "open")] == [before["task_id"]]
    # unix seconds work too; an earlier time takes the older registration in as well (--source: the one source)
    earlier = cli_json(config, "reconcile", "--source", "tencent-vod-v2", "--since", str(int(since.timestamp()) - 60))
    assert (earlier["checked"], earlier["recovered"]) == (1, 1)
    assert cli_json(config, "tasks", "list", "--state", "open") == []


def test_reconcile_since_sweeps_back_past_the_stored_cursor(tmp_path: Path, emulator: Any) -> None:
    emu = emulator(EmulatorConfig(time_scale=0, faults={"drop": 1.0}))
    config = write_config(tmp_path, emu, "tencent-vod-v3")
    first = emu.create("tencent-vod-v3", kind="transcode", callback_url=NOWHERE)
    emu.finish(first["task_id"])
    assert cli_json(config, "reconcile")["recovered"] == 1  # the sweep's cursor now stands at its creation
    # a task created an hour before it, that the receiver never heard of: behind the cursor
    late = emu.create("tencent-vod-v3", kind="transcode", age_s=3600.0, callback_url=NOWHERE)
    emu.finish(late["task_id"])

    plain = cli_json(config, "reconcile")
    assert (plain["discovered"], plain["checked"]) == (0, 0)
    back = cli_json(config, "reconcile", "--since", (datetime.now(UTC) - timedelta(hours=2)).isoformat())
    assert (back["discovered"], back["checked"], back["recovered"]) == (1, 1, 1)
    assert task_state(config, "tencent-vod", late["task_id"])["last_origin"] == "poll"
    assert [t["via"] for t in cli_json(config, "tasks", "list", "--state", "recovered")] == ["sweep", "sweep"]


def test_reconcile_beside_a_running_server_shares_the_rate_limit_and_queries_no_task_twice(
    tmp_path: Path, emulator: Any, running: Callable[[Settings], RunningReceiver]
) -> None:
    rate, burst = 2, 2
    emu = emulator(EmulatorConfig(time_scale=1.0, faults={"drop": 1.0}))  # a running clock: ledger times are real
    config = write_config(
        tmp_path, emu, "tencent-vod-v3", source={"rate_per_s": rate, "burst": burst}, sweep_interval_s=3600.0
    )
    created = [emu.create("tencent-vod-v3", kind="transcode", callback_url=NOWHERE) for _ in range(16)]
    for task in created:
        emu.finish(task["task_id"])
    since = datetime.now(UTC)
    registered = created[:8]  # due in an hour: the server's scheduler leaves them alone, reconcile --since not
    for task in registered:
        cli(config, "tasks", "track", "tencent-vod-v3", task["task_id"], "--deadline", "3600")

    receiver = running(load_settings(config))  # sweeps once, finds the other 8 (due at once) and queries them
    wait_until(lambda: any(q["detail"]["action"] == "DescribeTaskDetail" for q in emu.entries("query")))
    summary = cli_json(config, "reconcile", "--since", since.isoformat())
    assert summary["led"] is False and summary["leader"]  # the server holds the scheduler lease
    assert (summary["checked"], summary["recovered"]) == (8, 8)

    def all_finished() -> bool:
        with receiver.client() as http:
            items = http.get("/api/tasks", params={"state": "recovered", "limit": 100}).json()["items"]
        return len(items) == len(created)

    wait_until(all_finished)
    queries = emu.entries("query")
    assert all(q["detail"]["outcome"] == "ok" for q in queries), queries
    per_task = Counter(q["task_id"] for q in queries if q["detail"]["action"] == "DescribeTaskDetail")
    assert per_task == Counter({t["task_id"]: 1 for t in created})  # nobody queried a task twice
    times = sorted(ledger_time(q) for q in queries)
    assert busiest_window(times) <= rate + burst, [t.isoformat() for t in times]


def test_errors_name_the_bad_value(tmp_path: Path, emulator: Any) -> None:
    config = write_config(tmp_path, emulator(), "tencent-vod-v2")
    unknown = cli(config, "tasks", "track", "nope", "t1", code=2)
    assert "unknown source 'nope'" in unknown.output and "tencent-vod-v2" in unknown.output
    plain = cli(config, "tasks", "track", "plain", "t1", code=2)
    assert "source 'plain' has no fallback settings" in plain.output
    assert "[fallback.sources.plain]" in plain.output
    bad_time = cli(config, "tasks", "track", "tencent-vod-v2", "t1", "--created-at", "yesterday-ish", code=2)
    assert "'yesterday-ish'" in bad_time.output and "--created-at" in bad_time.output
    assert "unknown source 'nope'" in cli(config, "reconcile", "--source", "nope", code=2).output
    assert "no fallback settings" in cli(config, "reconcile", "--source", "plain", code=2).output
    assert "'last week'" in cli(config, "reconcile", "--since", "last week", code=2).output
    assert "give one of" in cli(config, "tasks", "list", "--overdue", "--lost", code=2).output
    assert cli_json(config, "tasks", "list") == []  # nothing was registered by the refused calls

    bare = tmp_path / "bare.toml"
    bare.write_text(f"data_dir = {toml_value(str(tmp_path / 'bare'))}\n", encoding="utf-8")
    nothing = cli(bare, "reconcile", code=1)
    assert "no source has fallback settings" in nothing.output
