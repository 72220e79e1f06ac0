"""Tencent API 2.0 (legacy) signing: the reference's vectors, the official SDKs' own signers, verification."""

from __future__ import annotations

import types
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from QcloudApi.common.request import RequestInternal as QRequestInternal
from QcloudApi.common.sign import Sign as QSign
from QcloudApi.modules.vod import Vod
from tencentcloud.common import abstract_client, credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign as SdkSign
from tencentcloud.vod.v20180717 import models as vod_models
from tencentcloud.vod.v20180717.vod_client import VodClient

from receiver.signing import Credential, Failure
from receiver.signing.tencent_v2 import (
    SignatureMethod,
    SigningTarget,
    compute_signature,
    sign_params,
    string_to_sign,
    verify_params,
)

DOC_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"
DOC_KEY = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA"
DOC = Credential(DOC_ID, DOC_KEY)
TS = 1485156352
NONCE = 345122
TASK = "1251989944-Procedure-d7c9631c15ecf653b1ff67e34cb04692"
AT_TS = datetime.fromtimestamp(TS, UTC)


def test_doc_example_string_and_signature() -> None:
    params = {
        "Action": "DescribeInstances",
        "Nonce": 11886,
        "Region": "gz",
        "SecretId": DOC_ID,
        "Timestamp": 1465185768,
        "instanceIds.0": "ins-09dx96dg",
        "limit": 20,
        "offset": 0,
    }
    text = string_to_sign(params, SigningTarget("GET", "cvm.api.qcloud.com", "/v2/index.php"))
    assert text == (
        "GETcvm.api.qcloud.com/v2/index.php?Action=DescribeInstances&Nonce=11886&Region=gz"
        "&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&Timestamp=1465185768&instanceIds.0=ins-09dx96dg"
        "&limit=20&offset=0"
    )
    assert compute_signature(text, DOC_KEY, SignatureMethod.HMAC_SHA1) == "NSI3UqqD99b/UJb4tbG/xZpRW64="


@pytest.mark.parametrize(
    ("http_method", "method", "expected"),
    [
        ("GET", SignatureMethod.HMAC_SHA1, "F7fB8K8PDFMYnh7EEoIc1+a+WyE="),
        ("GET", SignatureMethod.HMAC_SHA256, "k+rg7IH3JH1+kdcU6sStk7nxBWuiYAjM/z3u54neXU4="),
        ("POST", SignatureMethod.HMAC_SHA1, "O/edEs3cAMf9TbmKGKcXIhIVon0="),
        ("POST", SignatureMethod.HMAC_SHA256, "Hj5jqe+yWR8nh73ZUaRwD0HKnaT0TIrKTztkdlWZ07I="),
    ],
)
def test_get_task_info_vectors(http_method: str, method: SignatureMethod, expected: str) -> None:
    signed = sign_params(
        {"Action": "GetTaskInfo", "Region": "gz", "vodTaskId": TASK},
        DOC,
        timestamp=TS,
        nonce=NONCE,
        target=SigningTarget(http_method),
        signature_method=method,
    )
    assert signed["Signature"] == expected
    assert list(signed)[-1] == "Signature"
    assert signed["SignatureMethod"] == method.value
    if (http_method, method) == ("GET", SignatureMethod.HMAC_SHA1):
        assert string_to_sign(signed, SigningTarget()) == (
            "GETvod.api.qcloud.com/v2/index.php?Action=GetTaskInfo&Nonce=345122&Region=gz"
            "&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&SignatureMethod=HmacSHA1&Timestamp=1485156352"
            "&vodTaskId=1251989944-Procedure-d7c9631c15ecf653b1ff67e34cb04692"
        )


def test_confirm_event_vector_and_underscore_keys_sign_as_dots() -> None:
    dotted = {"Action": "ConfirmEvent", "Region": "gz", "msgHandle.0": "MsgHandle1", "msgHandle.1": "MsgHandle2"}
    underscored = {"Action": "ConfirmEvent", "Region": "gz", "msgHandle_0": "MsgHandle1", "msgHandle_1": "MsgHandle2"}
    kwargs: dict[str, Any] = {"timestamp": TS, "nonce": NONCE, "signature_method": SignatureMethod.HMAC_SHA256}
    expected = "W2KIEz96Uraayi3TbIYRC4yCzT2wylRQvrWZCWpkGCw="
    assert sign_params(dotted, DOC, **kwargs)["Signature"] == expected
    assert sign_params(underscored, DOC, **kwargs)["Signature"] == expected


def test_full_qsdk_url_vector_verifies() -> None:
    url = (
        "https://vod.api.qcloud.com/v2/index.php?vodTaskId=1251989944-Procedure-d7c9631c15ecf653b1ff67e34cb04692"
        "&Nonce=345122&Timestamp=1485156352&Action=GetTaskInfo&RequestClient=SDK_PYTHON_2.0.15&Region=gz"
        "&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&SignatureMethod=HmacSHA1"
        "&Signature=setIPi36LLF2nk73WSoo87%2BWP50%3D"
    )
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    verdict = verify_params(params, target=SigningTarget(), secrets={DOC_ID: DOC_KEY}, now=AT_TS)
    assert verdict.ok, verdict.detail
    assert verdict.secret_id == DOC_ID
    assert verdict.nonce == "345122"
    assert verdict.timestamp == AT_TS


# ------------------------------------------------------------------------- the official SDKs' own signers

ODD_PARAMS: dict[str, Any] = {
    "Action": "ConfirmEvent",
    "Region": "gz",
    "msgHandle_0": "a b+c/d=中&x",
    "msgHandle.1": "~*%",
    "file": "@/tmp/upload.mp4",
    "limit": 20,
}


@pytest.mark.parametrize("http_method", ["GET", "POST"])
@pytest.mark.parametrize("method", list(SignatureMethod))
def test_same_signature_as_qsdk_sign_make(http_method: str, method: SignatureMethod) -> None:
    """QcloudApi.common.sign.Sign.make on the same inputs, including `_` keys, raw non-ASCII values and a
    POST `@` value (which neither side signs)."""
    params = {**ODD_PARAMS, "Nonce": NONCE, "Timestamp": TS, "SecretId": DOC_ID, "SignatureMethod": method.value}
    host, path = "vod.api.qcloud.com", "/v2/index.php"
    theirs = QSign(DOC_ID, DOC_KEY).make(host, path, params, http_method, method.value)
    ours = sign_params(
        params, DOC, timestamp=TS, nonce=NONCE, target=SigningTarget(http_method, host, path), signature_method=method
    )["Signature"]
    assert ours == theirs


@pytest.mark.parametrize("http_method", ["GET", "POST"])
@pytest.mark.parametrize("method", list(SignatureMethod))
def test_qsdk_vod_request_verifies_and_matches(http_method: str, method: SignatureMethod) -> None:
    """The legacy SDK's whole request builder (`Vod._build_req_inter`, fixed Nonce/Timestamp): our signer
    gives the same Signature on its parameters, and our verifier accepts its request."""
    vod = Vod(
        {
            "secretId": DOC_ID,
            "secretKey": DOC_KEY,
            "Region": "gz",
            "method": http_method,
            "SignatureMethod": method.value,
        }
    )
    req = QRequestInternal(vod.requestHost, http_method, vod.requestUri)
    vod._build_req_inter("GetTaskInfo", {"vodTaskId": TASK, "Nonce": NONCE, "Timestamp": TS}, req)
    sent = dict(parse_qsl(req.data, keep_blank_values=True))
    assert sent["RequestClient"] == "SDK_PYTHON_2.0.15"
    target = SigningTarget(http_method, vod.requestHost, vod.requestUri)
    unsigned = {k: v for k, v in sent.items() if k != "Signature"}
    assert sign_params(unsigned, DOC, timestamp=TS, nonce=NONCE, target=target)["Signature"] == sent["Signature"]
    verdict = verify_params(sent, target=target, secrets={DOC_ID: DOC_KEY}, now=AT_TS)
    assert verdict.ok, verdict.detail
    tampered = {**sent, "vodTaskId": TASK.upper()}
    assert verify_params(tampered, target=target, secrets={DOC_ID: DOC_KEY}, now=AT_TS).failure is Failure.BAD_SIGNATURE
    assert (
        verify_params(sent, target=target, secrets={"AKIDx": DOC_KEY}, now=AT_TS).failure is Failure.UNKNOWN_SECRET_ID
    )
    later = datetime.fromtimestamp(TS + 301, UTC)
    assert verify_params(sent, target=target, secrets={DOC_ID: DOC_KEY}, now=later).failure is Failure.EXPIRED


@pytest.mark.parametrize("method", list(SignatureMethod))
def test_same_as_tencentcloud_common_sign(method: SignatureMethod) -> None:
    text = "GETvod.api.qcloud.com/v2/index.php?Action=GetTaskInfo&Nonce=1&vodTaskId=中"
    assert compute_signature(text, DOC_KEY, method) == SdkSign.sign(DOC_KEY, text, method.value)


class _FixedTime(types.SimpleNamespace):
    def time(self) -> float:
        return float(TS)


class _FixedRandom(types.SimpleNamespace):
    def randint(self, low: int, high: int) -> int:
        return NONCE


@pytest.mark.parametrize("http_method", ["GET", "POST"])
@pytest.mark.parametrize("method", list(SignatureMethod))
def test_api3_sdk_with_legacy_sign_method_verifies(
    monkeypatch: pytest.MonkeyPatch, http_method: str, method: SignatureMethod
) -> None:
    """tencentcloud-sdk-python with `signMethod="HmacSHA1|HmacSHA256"` signs API 3.0 calls with this scheme
    (`AbstractClient._build_req_with_old_signature`, path `/`): same signature, and it verifies."""
    monkeypatch.setattr(abstract_client, "time", _FixedTime())
    monkeypatch.setattr(abstract_client, "random", _FixedRandom())
    profile = ClientProfile(
        signMethod=method.value, httpProfile=HttpProfile(endpoint="127.0.0.1:8000", reqMethod=http_method)
    )
    client = VodClient(credential.Credential(DOC_ID, DOC_KEY), "ap-guangzhou", profile)
    request = vod_models.DescribeTaskDetailRequest()
    request.TaskId = TASK
    req = RequestInternal("127.0.0.1:8000", http_method, "/", header={})
    client._build_req_inter("DescribeTaskDetail", request._serialize(), req)
    sent = dict(parse_qsl(req.data, keep_blank_values=True))
    target = SigningTarget(http_method, "127.0.0.1:8000", "/")
    unsigned = {k: v for k, v in sent.items() if k != "Signature"}
    assert sign_params(unsigned, DOC, timestamp=TS, nonce=NONCE, target=target)["Signature"] == sent["Signature"]
    assert verify_params(sent, target=target, secrets={DOC_ID: DOC_KEY}, now=AT_TS).ok


# ------------------------------------------------------------------------------------------ verification

KEYS = {"AKIDother": "other-secret", DOC_ID: DOC_KEY}


def _signed(**overrides: str) -> dict[str, str]:
    signed = sign_params(
        {"Action": "GetTaskInfo", "Region": "gz", "vodTaskId": TASK},
        DOC,
        timestamp=TS,
        nonce=NONCE,
        signature_method=SignatureMethod.HMAC_SHA256,
    )
    signed.update(overrides)
    return signed


def test_verify_accepts_any_configured_pair() -> None:
    verdict = verify_params(_signed(), target=SigningTarget(), secrets=KEYS, now=AT_TS)
    assert verdict.ok and bool(verdict)
    assert verdict.failure is None
    assert verdict.secret_id == DOC_ID
    assert verdict.secret_id is not None
    assert verdict.string_to_sign is not None and verdict.string_to_sign.startswith("GETvod.api.qcloud.com")


@pytest.mark.parametrize(
    ("tamper", "failure", "fragment"),
    [
        ({"vodTaskId": TASK + "x"}, Failure.BAD_SIGNATURE, "does not match"),
        ({"Signature": "AAAA"}, Failure.BAD_SIGNATURE, "does not match"),
        ({"SecretId": "AKIDunknown"}, Failure.UNKNOWN_SECRET_ID, "AKIDunknown"),
        ({"Timestamp": str(TS - 301)}, Failure.EXPIRED, "301 s"),
        ({"Timestamp": "yesterday"}, Failure.MALFORMED, "yesterday"),
        ({"SignatureMethod": "HmacMD5"}, Failure.UNSUPPORTED, "HmacMD5"),
        ({"Signature": ""}, Failure.MISSING, "Signature"),
        ({"Nonce": ""}, Failure.MISSING, "Nonce"),
    ],
)
def test_verify_reports_which_failure(tamper: dict[str, str], failure: Failure, fragment: str) -> None:
    verdict = verify_params(_signed(**tamper), target=SigningTarget(), secrets=KEYS, now=AT_TS)
    assert not verdict.ok
    assert verdict.failure is failure
    assert fragment in verdict.detail


def test_verify_binds_method_host_and_path() -> None:
    signed = _signed()
    for target in (SigningTarget("POST"), SigningTarget(host="127.0.0.1:9"), SigningTarget(path="/")):
        assert verify_params(signed, target=target, secrets=KEYS, now=AT_TS).failure is Failure.BAD_SIGNATURE


def test_verify_tolerance_is_configurable_and_wrong_key_fails() -> None:
    signed = _signed()
    later = datetime.fromtimestamp(TS + 3600, UTC)
    assert verify_params(signed, target=SigningTarget(), secrets=KEYS, now=later).failure is Failure.EXPIRED
    assert verify_params(signed, target=SigningTarget(), secrets=KEYS, now=later, tolerance_s=7200).ok
    wrong = {DOC_ID: "not-the-key"}
    assert verify_params(signed, target=SigningTarget(), secrets=wrong, now=AT_TS).failure is Failure.BAD_SIGNATURE


def test_missing_signature_method_means_hmac_sha1() -> None:
    params = {"Action": "GetTaskInfo", "Nonce": "1", "SecretId": DOC_ID, "Timestamp": str(TS)}
    text = string_to_sign(params, SigningTarget())
    params["Signature"] = compute_signature(text, DOC_KEY, SignatureMethod.HMAC_SHA1)
    assert verify_params(params, target=SigningTarget(), secrets=[DOC], now=AT_TS).ok


def test_token_is_added_and_signed() -> None:
    temp = Credential(DOC_ID, DOC_KEY, token="tmp-token")
    signed = sign_params({"Action": "GetTaskInfo"}, temp, timestamp=TS, nonce=NONCE)
    assert signed["Token"] == "tmp-token"
    assert verify_params(signed, target=SigningTarget(), secrets=[temp], now=AT_TS).ok
    signed["Token"] = "other"
    assert verify_params(signed, target=SigningTarget(), secrets=[temp], now=AT_TS).failure is Failure.BAD_SIGNATURE


def test_credential_repr_hides_the_secret() -> None:
    assert DOC_KEY not in repr(DOC)
