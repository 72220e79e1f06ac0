"""The legacy qcloudapi SDK (HTTPS only, host hard-coded) against the emulator run with TLS."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from QcloudApi.modules.vod import Vod  # type: ignore[import-untyped]

from receiver.emulator.config import DialectConfig, EmulatorConfig
from receiver.emulator.tls import TlsMaterial, make_tls
from tests.emulator.conftest import Control, EmulatorFactory


class EmulatedVod(Vod):  # type: ignore[misc]
    """The SDK's Vod module with its hard-coded host replaced, nothing else changed."""

    requestHost = ""


def legacy(control: Control, key: str = "test", method: str = "GET", signature: str = "HmacSHA1") -> EmulatedVod:
    EmulatedVod.requestHost = control.server.netloc
    return EmulatedVod(
        {"secretId": "test", "secretKey": key, "Region": "gz", "method": method, "SignatureMethod": signature}
    )


def call(client: EmulatedVod, action: str, **params: Any) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(client.call(action, params))
    return answer


@pytest.fixture
def tls(tmp_path: Path) -> TlsMaterial:
    return make_tls(tmp_path / "tls")


@pytest.fixture
def trusted(tls: TlsMaterial, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsMaterial]:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_file))
    yield tls


@pytest.mark.parametrize(("method", "signature"), [("GET", "HmacSHA1"), ("POST", "HmacSHA256")])
def test_get_task_info_over_https(emulator: EmulatorFactory, trusted: TlsMaterial, method: str, signature: str) -> None:
    control = emulator(tls=trusted)
    task = control.create("tencent-vod-v2", scenario="partial")
    client = legacy(control, method=method, signature=signature)

    waiting = call(client, "GetTaskInfo", vodTaskId=task["task_id"])
    assert (waiting["code"], waiting["type"], waiting["status"], waiting["beginProcessTime"]) == (
        0,
        "Procedure",
        "WAITING",
        0,
    )
    assert "data" not in waiting

    control.finish(task["task_id"])
    done = call(legacy(control, method=method, signature=signature), "GetTaskInfo", vodTaskId=task["task_id"])
    assert done["status"] == "FINISH" and done["finishTime"] >= done["createTime"]
    data = done["data"]
    assert data["vodTaskId"] == task["task_id"] and data["fileId"] == task["file_id"]
    assert [t["status"] for t in data["processTaskList"]] == ["SUCCESS", "SUCCESS", "FAIL"]
    assert "output" in data["processTaskList"][0] and "output" not in data["processTaskList"][2]


def test_ca_is_served_and_verifies(emulator: EmulatorFactory, tls: TlsMaterial) -> None:
    control = emulator(tls=tls)
    assert control.http.get("/_emulator/ca.pem").content == tls.ca_file.read_bytes()
    with httpx.Client(verify=ssl.create_default_context(cafile=str(tls.ca_file))) as strict:
        assert strict.get(f"{control.server.url}/_emulator/config").json()["tls"] is True


def test_wrong_key_gets_legacy_auth_failure(emulator: EmulatorFactory, trusted: TlsMaterial) -> None:
    control = emulator(tls=trusted)
    task = control.create("tencent-vod-v2")
    answer = call(legacy(control, key="wrong"), "GetTaskInfo", vodTaskId=task["task_id"])
    assert (answer["code"], answer["codeDesc"]) == (4100, "AuthFailure")


def test_legacy_errors_unknown_task_and_replayed_nonce(emulator: EmulatorFactory, trusted: TlsMaterial) -> None:
    control = emulator(tls=trusted)
    client = legacy(control)
    assert call(client, "GetTaskInfo", vodTaskId="1500000000-procedurev2-00")["code"] == 70014
    assert call(client, "GetTaskInfo")["code"] == 1000
    first = call(client, "GetTaskList", Nonce=4242)
    assert first["code"] == 0
    assert call(client, "GetTaskList", Nonce=4242)["code"] == 4500


def test_retention_72h_and_task_list(emulator: EmulatorFactory, trusted: TlsMaterial) -> None:
    control = emulator(tls=trusted)
    old = control.create("tencent-vod-v2", kind="transcode")["task_id"]
    control.clock(advance_s=71 * 3600)
    new = control.create("tencent-vod-v2", kind="clip")["task_id"]
    listing = call(legacy(control), "GetTaskList")
    assert [(t["vodTaskId"], t["type"]) for t in listing["data"]["taskList"]] == [
        (old, "transcode"),
        (new, "clip_media"),
    ]
    control.clock(advance_s=2 * 3600)
    assert call(legacy(control), "GetTaskInfo", vodTaskId=old)["code"] == 70014
    assert [t["vodTaskId"] for t in call(legacy(control), "GetTaskList")["data"]["taskList"]] == [new]


def test_get_procedure_info_flat_answer(emulator: EmulatorFactory, trusted: TlsMaterial) -> None:
    control = emulator(tls=trusted)
    task = control.create("tencent-vod-v2")
    control.finish(task["task_id"])
    answer = call(legacy(control), "GetProcedureInfo", vodTaskId=task["task_id"])
    assert answer["code"] == 0 and answer["status"] == "FINISH" and answer["fileId"] == task["file_id"]
    assert answer["metaData"]["videoStreamList"][0]["codec"] == "h264"


def test_rate_limit_100_per_minute(emulator: EmulatorFactory, trusted: TlsMaterial) -> None:
    control = emulator(tls=trusted)
    task = control.create("tencent-vod-v2")["task_id"]
    client = legacy(control)
    codes = [call(client, "GetTaskInfo", vodTaskId=task)["code"] for _ in range(101)]
    assert codes[:100] == [0] * 100 and codes[100] == 4400
    control.clock(advance_s=61)
    assert call(client, "GetTaskInfo", vodTaskId=task)["code"] == 0


def test_pull_event_and_confirm_event(emulator: EmulatorFactory, trusted: TlsMaterial) -> None:
    config = EmulatorConfig(time_scale=0, pull_wait_s=0, dialects={"tencent-vod-v2": DialectConfig(mode="pull")})
    control = emulator(config, tls=trusted)
    assert call(legacy(control), "PullEvent")["eventList"] == []
    task = control.create("tencent-vod-v2", kind="transcode")
    control.finish(task["task_id"])
    [event] = call(legacy(control), "PullEvent")["eventList"]
    content = event["eventContent"]
    assert (content["version"], content["eventType"]) == ("4.0", "TranscodeComplete")
    assert content["data"]["vodTaskId"] == task["task_id"] and len(content["data"]["playSet"]) == 3
    confirmed = call(legacy(control), "ConfirmEvent", msgHandle_0=event["msgHandle"])
    assert confirmed["code"] == 0
    summary = control.ledger()["summary"]
    assert (summary["published"], summary["delivered"]) == (1, 1)
