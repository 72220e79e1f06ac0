"""TC3-HMAC-SHA256: every reference vector and intermediate, the official SDK's own builder, verification."""

from __future__ import annotations

import json
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tencentcloud.common import abstract_client, credential
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.common.sign import Sign as SdkSign
from tencentcloud.mps.v20190612 import models as mps_models
from tencentcloud.mps.v20190612.mps_client import MpsClient
from tencentcloud.vod.v20180717 import models as vod_models
from tencentcloud.vod.v20180717.vod_client import VodClient

from receiver.signing import Credential, Failure
from receiver.signing.tc3 import (
    Tc3Call,
    canonical_request,
    compute_signature,
    credential_scope,
    form_query,
    json_body,
    parse_authorization,
    payload_hash,
    sign_request,
    signing_keys,
    string_to_sign,
    utc_date,
    verify_request,
)

VECTORS = json.loads(Path("/work/shared/providers/tencent-mps-tc3-vectors.json").read_text())
VOD_ID, VOD_KEY = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA", "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA"
EX_ID, EX_KEY = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"][:3] for v in VECTORS])
def test_mps_vectors_every_intermediate(vector: dict[str, Any]) -> None:
    inp, sent, derived = vector["inputs"], vector["sdk_request"], vector["derived"]
    method = inp["method"]
    body = sent["body"].encode()
    query = sent["url"].partition("?")[2]
    assert utc_date(inp["timestamp"]) == derived["date"]
    assert payload_hash(method, body) == derived["payload_hash"]
    headers = [("content-type", sent["headers"]["Content-Type"]), ("host", sent["headers"]["Host"])]
    canonical = canonical_request(method, "/", query, headers, derived["payload_hash"])
    assert canonical == derived["canonical_request"]
    scope = credential_scope(derived["date"], "mps")
    assert scope == derived["credential_scope"]
    text = string_to_sign(inp["timestamp"], scope, canonical)
    assert text == derived["string_to_sign"]
    keys = signing_keys(inp["secret_key"], derived["date"], "mps")
    assert keys.k_date.hex() == derived["k_date"]
    assert keys.k_service.hex() == derived["k_service"]
    assert keys.k_signing.hex() == derived["k_signing"]
    assert compute_signature(inp["secret_key"], derived["date"], "mps", text) == derived["signature"]

    # The whole signer reproduces the SDK's headers exactly.
    call = Tc3Call(
        service="mps",
        host=inp["endpoint"],
        action=inp["action"],
        version="2019-06-12",
        timestamp=inp["timestamp"],
        method=method,
        payload=json_body(inp["params"]) if method == "POST" else b"",
        query=form_query(inp["params"]) if method == "GET" else "",
        region=inp["region"] or None,
        language="zh-CN",
        request_client=sent["headers"]["X-TC-RequestClient"],
    )
    cred = Credential(inp["secret_id"], inp["secret_key"], inp["token"])
    assert sign_request(call, cred) == sent["headers"]
    if method == "POST":
        assert json_body(inp["params"]) == body
    else:
        assert form_query(inp["params"]) == query

    # And the verifier accepts what the SDK sent.
    verdict = verify_request(method, "/", query, sent["headers"], body, [cred], _at(inp["timestamp"]), service="mps")
    assert verdict.ok, verdict.detail
    assert verdict.string_to_sign == derived["string_to_sign"]


def test_cvm_doc_vector_tv0() -> None:
    canonical = canonical_request(
        "GET",
        "/",
        "Limit=10&Offset=0",
        [("content-type", "application/x-www-form-urlencoded"), ("host", "cvm.tencentcloudapi.com")],
        payload_hash("GET", b""),
    )
    text = string_to_sign(1539084154, credential_scope("2018-10-09", "cvm"), canonical)
    assert text.endswith("91c9c192c14460df6c1ffc69e34e6c5e90708de2a6d282cccf957dbf1aa7f3a7")
    call = Tc3Call(
        service="cvm",
        host="cvm.tencentcloudapi.com",
        action="DescribeInstances",
        version="2017-03-12",
        timestamp=1539084154,
        method="GET",
        query="Limit=10&Offset=0",
    )
    auth = sign_request(call, Credential(EX_ID, EX_KEY))["Authorization"]
    assert auth == (
        "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2018-10-09/cvm/tc3_request, "
        "SignedHeaders=content-type;host, Signature=5da7a33f6993f0614b047e5df4582db9e9bf4672ba50567dba16c6ccf174c474"
    )


def test_vod_reference_vector() -> None:
    body = b'{"TaskId": "1256768367-Procedure-475b7237438a39560b9879a4556cb177t1"}'
    assert payload_hash("POST", body) == "9149c046f50ce5a9cfe19c0dcafc54677e004b468c24677c0ba3399a82127c95"
    canonical = canonical_request(
        "POST",
        "/",
        "",
        [("content-type", "application/json"), ("host", "vod.tencentcloudapi.com")],
        payload_hash("POST", body),
    )
    assert string_to_sign(1551113065, "2019-02-25/vod/tc3_request", canonical).endswith(
        "f518a5b3e01a38a4146ac00f480634e6ef68cd376e6a22a86185629358a07925"
    )
    call = Tc3Call(
        service="vod",
        host="vod.tencentcloudapi.com",
        action="DescribeTaskDetail",
        version="2018-07-17",
        timestamp=1551113065,
        payload=body,
    )
    headers = sign_request(call, Credential(VOD_ID, VOD_KEY))
    assert headers["Authorization"].endswith(
        "Signature=71026e755b683f4b4344c9e6041e6d77b614b78626a86f5e4d904f7645ee8031"
    )
    assert headers["X-TC-Action"] == "DescribeTaskDetail"
    assert headers["X-TC-Version"] == "2018-07-17"
    assert "X-TC-Region" not in headers


# ------------------------------------------------------------------------- the official SDK's own builder


class _FixedTime(types.SimpleNamespace):
    ts: int

    def time(self) -> float:
        return float(self.ts)


SDK_CASES = [
    # (client class, models, action, params, endpoint, method, region, token, unsigned payload, timestamp)
    (
        VodClient,
        vod_models,
        "DescribeTaskDetail",
        {"TaskId": "1256768367-Procedure-475b7237438a39560b9879a4556cb177t1"},
        "vod.tencentcloudapi.com",
        "POST",
        "ap-guangzhou",
        None,
        False,
        1551113065,
    ),
    (VodClient, vod_models, "PullEvents", {}, "127.0.0.1:18765", "POST", "", None, False, 1700000000),
    (
        VodClient,
        vod_models,
        "ConfirmEvents",
        {"EventHandles": ["h1", "h 2/中"], "SubAppId": 1500000001},
        "127.0.0.1:18765",
        "GET",
        "ap-shanghai",
        "tok",
        False,
        1700086399,
    ),
    (
        VodClient,
        vod_models,
        "DescribeTasks",
        {"Status": "FINISH", "CreateTime": {"After": "2026-01-01T00:00:00Z"}, "Limit": 100},
        "vod.tencentcloudapi.com",
        "POST",
        "ap-guangzhou",
        None,
        True,
        1800000000,
    ),
    (
        MpsClient,
        mps_models,
        "DescribeTaskDetail",
        {"TaskId": "2600010949-WorkflowTask-764a7f3ca6f6eb13cda2048cfb034025tt7"},
        "mps.tencentcloudapi.com",
        "GET",
        "ap-guangzhou",
        None,
        False,
        1700000000,
    ),
    (
        MpsClient,
        mps_models,
        "DescribeTasks",
        {"Status": "FINISH", "Limit": 10, "ScrollToken": "a=b&c"},
        "127.0.0.1:8000",
        "GET",
        "",
        None,
        False,
        1551113065,
    ),
]


@pytest.mark.parametrize("case", SDK_CASES, ids=[f"{c[0].__name__}-{c[2]}-{c[5]}" for c in SDK_CASES])
def test_same_headers_as_sdk_builder_and_verifies(monkeypatch: pytest.MonkeyPatch, case: tuple[Any, ...]) -> None:
    """`AbstractClient._build_req_inter` (→ `_build_req_with_tc3_signature`, `_get_tc3_signature`,
    `Sign.sign_tc3`) with the clock fixed: our `sign_request` gives the same headers, byte for byte, and our
    `verify_request` accepts the SDK's request."""
    client_cls, models, action, params, endpoint, method, region, token, unsigned, ts = case
    monkeypatch.setattr(abstract_client, "time", _FixedTime(ts=ts))
    http = HttpProfile(endpoint=endpoint, reqMethod=method)
    profile = ClientProfile(httpProfile=http)
    profile.unsignedPayload = unsigned
    client = client_cls(credential.Credential(EX_ID, EX_KEY, token), region, profile)
    request = getattr(models, f"{action}Request")()
    request._deserialize(params)
    req = RequestInternal(endpoint, method, "/", header={})
    client._build_req_inter(action, request._serialize(), req)

    body = b"" if method == "GET" else req.data.encode()
    query = req.data if method == "GET" else ""
    call = Tc3Call(
        service=client._service,
        host=endpoint,
        action=action,
        version=client._apiVersion,
        timestamp=ts,
        method=method,
        payload=json_body(request._serialize()) if method == "POST" else b"",
        query=form_query(request._serialize()) if method == "GET" else "",
        region=region or None,
        language=profile.language,
        request_client=client.request_client,
        unsigned_payload=unsigned,
    )
    ours = sign_request(call, Credential(EX_ID, EX_KEY, token))
    assert ours == req.header
    assert call.payload == body and call.query == query

    verdict = verify_request(method, "/", query, req.header, body, {EX_ID: EX_KEY}, _at(ts), service=client._service)
    assert verdict.ok, verdict.detail
    assert verdict.secret_id == EX_ID

    # The same SDK request, tampered, fails for the right reason.
    def check(**kw: Any) -> Failure | None:
        args: dict[str, Any] = {
            "method": method,
            "path": "/",
            "query": query,
            "headers": req.header,
            "body": body,
            "secrets": {EX_ID: EX_KEY},
            "now": _at(ts),
        }
        args.update(kw)
        return verify_request(**args).failure

    assert check(secrets={EX_ID: "wrong"}) is Failure.BAD_SIGNATURE
    assert check(secrets={"AKIDsomeoneelse": EX_KEY}) is Failure.UNKNOWN_SECRET_ID
    assert check(now=_at(ts + 301)) is Failure.EXPIRED
    assert check(headers={**req.header, "Host": "example.com"}) is Failure.BAD_SIGNATURE
    if method == "GET":
        assert check(query=query + "&Limit=1") is Failure.BAD_SIGNATURE
    elif not unsigned:
        assert check(body=body + b" ") is Failure.BAD_SIGNATURE


def test_key_chain_same_as_sdk_sign_tc3() -> None:
    text = "TC3-HMAC-SHA256\n1700000000\n2023-11-14/vod/tc3_request\n" + "ab" * 32
    assert compute_signature(EX_KEY, "2023-11-14", "vod", text) == SdkSign.sign_tc3(EX_KEY, "2023-11-14", "vod", text)


# ------------------------------------------------------------------------------------------ verification

TS = 1700000000
NOW = _at(TS)
BODY = b'{"TaskId": "1256768367-Procedure-475b7237438a39560b9879a4556cb177t1"}'


def _signed(**changes: Any) -> dict[str, str]:
    fields: dict[str, Any] = {
        "service": "vod",
        "host": "127.0.0.1:8000",
        "action": "DescribeTaskDetail",
        "version": "2018-07-17",
        "timestamp": TS,
        "payload": BODY,
        "region": "ap-guangzhou",
    }
    fields.update(changes)
    return sign_request(Tc3Call(**fields), Credential(VOD_ID, VOD_KEY))


KEYS = {"AKIDother": "x", VOD_ID: VOD_KEY}


def test_verify_ok_reports_secret_and_time() -> None:
    verdict = verify_request("POST", "/", "", _signed(), BODY, KEYS, NOW, service="vod")
    assert verdict.ok
    assert verdict.secret_id == VOD_ID
    assert verdict.timestamp == NOW


def test_verify_header_names_are_case_insensitive() -> None:
    lowered = {k.lower(): v for k, v in _signed().items()}
    assert verify_request("POST", "/", "", lowered, BODY, KEYS, NOW).ok


def _replace_auth(headers: dict[str, str], old: str, new: str) -> dict[str, str]:
    return {**headers, "Authorization": headers["Authorization"].replace(old, new)}


@pytest.mark.parametrize(
    ("mutate", "body", "failure", "fragment"),
    [
        (lambda h: h, BODY.replace(b"t1", b"t2"), Failure.BAD_SIGNATURE, "does not match"),
        (lambda h: {**h, "Content-Type": "text/plain"}, BODY, Failure.BAD_SIGNATURE, "does not match"),
        (lambda h: {**h, "Host": "evil.example"}, BODY, Failure.BAD_SIGNATURE, "does not match"),
        (lambda h: {**h, "X-TC-Timestamp": str(TS + 1)}, BODY, Failure.BAD_SIGNATURE, "does not match"),
        (lambda h: {**h, "X-TC-Timestamp": str(TS - 301)}, BODY, Failure.EXPIRED, "301 s"),
        (lambda h: {**h, "X-TC-Timestamp": "soon"}, BODY, Failure.MALFORMED, "soon"),
        (lambda h: {k: v for k, v in h.items() if k != "X-TC-Timestamp"}, BODY, Failure.MISSING, "X-TC-Timestamp"),
        (lambda h: {k: v for k, v in h.items() if k != "Authorization"}, BODY, Failure.MISSING, "Authorization"),
        (lambda h: _replace_auth(h, VOD_ID, "AKIDnobody"), BODY, Failure.UNKNOWN_SECRET_ID, "AKIDnobody"),
        (lambda h: _replace_auth(h, "TC3-HMAC-SHA256 ", "HMAC-SHA256 "), BODY, Failure.MALFORMED, "algorithm"),
        (lambda h: _replace_auth(h, "/tc3_request", "/tc2_request"), BODY, Failure.MALFORMED, "tc3_request"),
        (lambda h: _replace_auth(h, "2023-11-14", "2023-11-15"), BODY, Failure.BAD_SIGNATURE, "UTC date"),
        (lambda h: _replace_auth(h, "/vod/", "/mps/"), BODY, Failure.BAD_SIGNATURE, "service"),
        (lambda h: _replace_auth(h, "content-type;host", "host"), BODY, Failure.BAD_SIGNATURE, "content-type"),
        (
            lambda h: _replace_auth(h, "content-type;host", "content-type;host;x-tc-x"),
            BODY,
            Failure.BAD_SIGNATURE,
            "x-tc-x",
        ),
        (lambda h: _replace_auth(h, "Signature=", "Signature=0"), BODY, Failure.BAD_SIGNATURE, "does not match"),
        (lambda h: _replace_auth(h, ", Signature=", ", Sig="), BODY, Failure.MALFORMED, "Signature"),
    ],
)
def test_verify_reports_which_failure(mutate: Any, body: bytes, failure: Failure, fragment: str) -> None:
    verdict = verify_request("POST", "/", "", mutate(_signed()), body, KEYS, NOW, service="vod")
    assert verdict.failure is failure, verdict.detail
    assert fragment in verdict.detail


def test_verify_get_binds_query_and_ignores_body() -> None:
    query = form_query({"TaskId": "a b", "SubAppId": 1})
    headers = _signed(method="GET", query=query, payload=b"")
    assert verify_request("GET", "/", query, headers, b"ignored", KEYS, NOW).ok
    assert verify_request("GET", "/", query + "&x=1", headers, b"", KEYS, NOW).failure is Failure.BAD_SIGNATURE
    assert verify_request("POST", "/", query, headers, b"", KEYS, NOW).failure is Failure.BAD_SIGNATURE


def test_verify_unsigned_payload() -> None:
    headers = _signed(unsigned_payload=True)
    assert headers["X-TC-Content-SHA256"] == "UNSIGNED-PAYLOAD"
    assert verify_request("POST", "/", "", headers, b"any body at all", KEYS, NOW).ok


def test_documented_mode_signing_x_tc_action_lowercased() -> None:
    """Newer signers (and the current docs) also sign x-tc-action with its value lower-cased."""
    headers = _signed(extra_signed=("X-TC-Action",), content_type="application/json; charset=utf-8")
    auth = parse_authorization(headers["Authorization"])
    assert auth.signed_headers == ("content-type", "host", "x-tc-action")
    assert verify_request("POST", "/", "", headers, BODY, KEYS, NOW, service="vod").ok
    other_action = {**headers, "X-TC-Action": "ConfirmEvents"}
    assert verify_request("POST", "/", "", other_action, BODY, KEYS, NOW).failure is Failure.BAD_SIGNATURE


def test_signing_a_header_not_sent_is_refused() -> None:
    with pytest.raises(ValueError, match="X-TC-Region"):
        _signed(region=None, extra_signed=("X-TC-Region",))


def test_host_with_upper_case_verifies_as_sent() -> None:
    headers = _signed(host="VOD.TencentCloudAPI.com")
    assert verify_request("POST", "/", "", headers, BODY, KEYS, NOW).ok


def test_credential_date_is_utc_not_local() -> None:
    """1551113065 is 2019-02-26 in UTC+8 but 2019-02-25 in UTC: the scope must use UTC."""
    headers = _signed(timestamp=1551113065)
    assert "/2019-02-25/vod/" in headers["Authorization"]
    assert verify_request("POST", "/", "", headers, BODY, KEYS, _at(1551113065)).ok
