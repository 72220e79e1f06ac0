"""Stale timestamps and replays get each provider's own error (requests signed with receiver.signing)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from receiver.signing import Credential
from receiver.signing.aliyun_rpc import sign_params as sign_rpc
from receiver.signing.tc3 import Tc3Call, sign_request
from receiver.signing.tencent_v2 import SigningTarget
from receiver.signing.tencent_v2 import sign_params as sign_legacy
from tests.emulator.conftest import EmulatorFactory

TEST = Credential("test", "test")


def test_tc3_stale_timestamp_is_signature_expire(emulator: EmulatorFactory) -> None:
    control = emulator()
    task = control.create("tencent-vod-v3")["task_id"]
    payload = f'{{"TaskId": "{task}"}}'.encode()
    for age, code in ((0, None), (600, "AuthFailure.SignatureExpire")):
        call = Tc3Call(
            service="vod",
            host=control.server.netloc,
            action="DescribeTaskDetail",
            version="2018-07-17",
            timestamp=int(time.time()) - age,
            payload=payload,
        )
        answer = control.http.post("/", content=payload, headers=sign_request(call, TEST)).json()["Response"]
        assert answer.get("Error", {}).get("Code") == code
    # the credential scope names the service: a VOD signature does not open MPS
    call = Tc3Call(
        service="vod",
        host=control.server.netloc,
        action="DescribeTaskDetail",
        version="2019-06-12",
        timestamp=int(time.time()),
        payload=payload,
    )
    answer = control.http.post("/", content=payload, headers=sign_request(call, TEST)).json()["Response"]
    assert answer["Error"]["Code"] == "AuthFailure.SignatureFailure"


def test_legacy_stale_timestamp_is_4500(emulator: EmulatorFactory) -> None:
    control = emulator()
    target = SigningTarget(http_method="GET", host=control.server.netloc)
    params = sign_legacy({"Action": "GetTaskList"}, TEST, timestamp=int(time.time()) - 3600, nonce=77, target=target)
    assert control.http.get("/v2/index.php", params=params).json()["code"] == 4500


def test_aliyun_stale_timestamp_and_reused_nonce(emulator: EmulatorFactory) -> None:
    control = emulator()
    video = "10f6baa29bdf71f1bfc46733a78e0102"
    base = {"Action": "ListTranscodeTask", "Version": "2017-03-21", "VideoId": video}
    stale = sign_rpc(base, TEST, timestamp=datetime.now(UTC) - timedelta(hours=1), nonce="n-1", http_method="POST")
    answer = control.http.post("/", params=stale)
    assert (answer.status_code, answer.json()["Code"]) == (400, "InvalidTimeStamp.Expired")
    fresh = sign_rpc(base, TEST, timestamp=datetime.now(UTC), nonce="n-2", http_method="POST")
    assert control.http.post("/", params=fresh).status_code == 200
    replayed = control.http.post("/", params=fresh)
    assert (replayed.status_code, replayed.json()["Code"]) == (400, "SignatureNonceUsed")
