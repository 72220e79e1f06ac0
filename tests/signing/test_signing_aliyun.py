"""Alibaba RPC v1 and ACS3 signing: the reference's vectors, the official SDKs' own signers, verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from alibabacloud_tea_openapi.utils import Utils as TeaUtils
from aliyunsdkcore.auth.composer import rpc_signature_composer
from aliyunsdkcore.utils import parameter_helper
from aliyunsdkvod.request.v20170321.GetTranscodeTaskRequest import GetTranscodeTaskRequest
from aliyunsdkvod.request.v20170321.ListTranscodeTaskRequest import ListTranscodeTaskRequest
from darabonba.request import DaraRequest

from receiver.signing import Credential, Failure
from receiver.signing import aliyun_acs3 as acs3
from receiver.signing import aliyun_rpc as rpc

AK, SECRET = "testAccessKeyId", "testAccessKeySecret"
CRED = Credential(AK, SECRET)
WHEN = datetime(2019, 1, 23, 12, 35, 12, tzinfo=UTC)
UUID_NONCE = "8f8a035d-6496-4268-afd4-67c22837e38d"
TRICKY = "a b*c~d/e+f=中"
KEYS = {"other": "x", AK: SECRET}


# ------------------------------------------------------------------------------------------------ RPC v1


def test_percent_encoding_rules() -> None:
    assert rpc.percent_encode(TRICKY) == "a%20b%2Ac~d%2Fe%2Bf%3D%E4%B8%AD"
    assert rpc.percent_encode("-_.~AZaz09") == "-_.~AZaz09"


def test_official_doc_vector() -> None:
    params = {
        "AccessKeyId": "testAccessKeyId",
        "Action": "GetVideoPlayAuth",
        "Format": "JSON",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "8f8a035d-6496-4268-afd4-67c22837e38d",
        "SignatureVersion": "1.0",
        "Timestamp": "2017-10-10T12:02:54Z",
        "Version": "2017-03-21",
        "VideoId": "5aed81b74ba84920be578cdfe004af4b",
    }
    text = rpc.string_to_sign("GET", params)
    assert text == (
        "GET&%2F&AccessKeyId%3DtestAccessKeyId%26Action%3DGetVideoPlayAuth%26Format%3DJSON%26SignatureMethod"
        "%3DHMAC-SHA1%26SignatureNonce%3D8f8a035d-6496-4268-afd4-67c22837e38d%26SignatureVersion%3D1.0"
        "%26Timestamp%3D2017-10-10T12%253A02%253A54Z%26Version%3D2017-03-21%26VideoId%3D5aed81b74ba84920be578cdfe004af4b"
    )
    assert rpc.compute_signature(text, SECRET) == "Ibgh7y8Vp47LBuAsf5Xhi1SvDss="


def test_core_post_vector() -> None:
    signed = rpc.sign_params(
        {
            "Action": "GetTranscodeTask",
            "Version": "2017-03-21",
            "RegionId": "cn-shanghai",
            "TranscodeTaskId": "b1b65ab107e143dbb900f6c1fe0",
        },
        CRED,
        timestamp=WHEN,
        nonce=UUID_NONCE,
        http_method="POST",
        signature_type="",
    )
    assert rpc.string_to_sign("POST", signed) == (
        "POST&%2F&AccessKeyId%3DtestAccessKeyId%26Action%3DGetTranscodeTask%26Format%3DJSON%26RegionId"
        "%3Dcn-shanghai%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D8f8a035d-6496-4268-afd4-67c22837e38d"
        "%26SignatureType%3D%26SignatureVersion%3D1.0%26Timestamp%3D2019-01-23T12%253A35%253A12Z"
        "%26TranscodeTaskId%3Db1b65ab107e143dbb900f6c1fe0%26Version%3D2017-03-21"
    )
    assert signed["Signature"] == "RhsRALFbt4mpTeHWeM0uJN+7CuI="


def test_core_get_tricky_vector_and_signed_path() -> None:
    signed = rpc.sign_params(
        {
            "Action": "ListTranscodeTask",
            "Version": "2017-03-21",
            "RegionId": "cn-shanghai",
            "VideoId": "d4860fcc6a5bce9fed52e893824",
            "StartTime": "2019-01-23T12:35:12Z",
            "PageSize": 10,
            "Title": TRICKY,
        },
        CRED,
        timestamp=WHEN,
        nonce=UUID_NONCE,
        http_method="GET",
        signature_type="",
    )
    assert "Title%3Da%2520b%252Ac~d%252Fe%252Bf%253D%25E4%25B8%25AD" in rpc.string_to_sign("GET", signed)
    assert signed["Signature"] == "UEiL/Ssg1/nsDhHtKDx2HwfvT08="
    path = (
        "/?Action=ListTranscodeTask&Version=2017-03-21&RegionId=cn-shanghai&VideoId=d4860fcc6a5bce9fed52e893824"
        "&StartTime=2019-01-23T12%3A35%3A12Z&PageSize=10&Title=a%20b%2Ac~d%2Fe%2Bf%3D%E4%B8%AD"
        "&Timestamp=2019-01-23T12%3A35%3A12Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0"
        "&SignatureNonce=8f8a035d-6496-4268-afd4-67c22837e38d&AccessKeyId=testAccessKeyId&Format=JSON"
        "&Signature=UEiL%2FSsg1%2FnsDhHtKDx2HwfvT08%3D"
    )
    received = dict(parse_qsl(urlsplit(path).query, keep_blank_values=True))
    assert received == signed
    assert rpc.verify_params("GET", received, KEYS, WHEN).ok


def test_tea_post_vector() -> None:
    signed = rpc.sign_params(
        {"Action": "GetTranscodeTask", "Version": "2017-03-21", "TranscodeTaskId": "b1b65ab107e143dbb900f6c1fe0"},
        CRED,
        timestamp=WHEN,
        nonce=UUID_NONCE,
        http_method="POST",
        format="json",
    )
    assert signed["Signature"] == "up0S74gnMnjbX3mEdOlYSYY7Ffo="


@pytest.mark.parametrize("http_method", ["GET", "POST"])
def test_same_as_core_get_signed_url(monkeypatch: pytest.MonkeyPatch, http_method: str) -> None:
    """aliyunsdkcore `rpc_signature_composer.get_signed_url` with its clock and nonce fixed, on odd values
    and with form-body parameters: the same string to sign and the same signature."""
    monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: "2019-01-23T12:35:12Z")
    monkeypatch.setattr(parameter_helper, "get_uuid", lambda: UUID_NONCE)
    query = {"Action": "ListTranscodeTask", "Version": "2017-03-21", "Title": TRICKY, "Empty": "", "Star": "*~"}
    body = {"Note": "x y&z=1", "PageNo": "2"}
    url, their_text = rpc_signature_composer.get_signed_url(dict(query), AK, SECRET, "JSON", http_method, body)
    ours = rpc.sign_params(
        query, CRED, timestamp=WHEN, nonce=UUID_NONCE, http_method=http_method, signature_type="", body_params=body
    )
    assert rpc.string_to_sign(http_method, {**ours, **body}) == their_text
    sent = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert ours == sent
    assert rpc.verify_params(http_method, {**sent, **body}, KEYS, WHEN).ok
    tampered = {**sent, **body, "PageNo": "3"}
    assert rpc.verify_params(http_method, tampered, KEYS, WHEN).failure is Failure.BAD_SIGNATURE


@pytest.mark.parametrize("request_cls", [GetTranscodeTaskRequest, ListTranscodeTaskRequest])
def test_vod_sdk_request_get_url_verifies(monkeypatch: pytest.MonkeyPatch, request_cls: Any) -> None:
    """aliyun-python-sdk-vod's request classes (`RpcRequest.get_url`, what AcsClient sends)."""
    monkeypatch.setattr(parameter_helper, "get_iso_8061_date", lambda: "2019-01-23T12:35:12Z")
    monkeypatch.setattr(parameter_helper, "get_uuid", lambda: "42ea6f93bee325184d3153fb21c13f5c")
    request = request_cls()
    request.set_accept_format("JSON")  # what AcsClient does before signing
    if request_cls is GetTranscodeTaskRequest:
        request.set_TranscodeTaskId("b1b65ab107e143dbb900f6c1fe0")
    else:
        request.set_VideoId("d4860fcc6a5bce9fed52e893824")
        request.set_StartTime("2019-01-23T12:35:12Z")
        request.set_PageSize(10)
    url = request.get_url("cn-shanghai", AK, SECRET)
    sent = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    method = request.get_method()
    assert method == "POST"
    unsigned = {k: v for k, v in sent.items() if k not in rpc_common_keys()}
    ours = rpc.sign_params(
        unsigned, CRED, timestamp=WHEN, nonce="42ea6f93bee325184d3153fb21c13f5c", http_method=method, signature_type=""
    )
    assert ours["Signature"] == sent["Signature"]
    verdict = rpc.verify_params(method, sent, KEYS, WHEN + timedelta(seconds=899))
    assert verdict.ok, verdict.detail
    assert verdict.nonce == "42ea6f93bee325184d3153fb21c13f5c"
    assert rpc.verify_params("GET", sent, KEYS, WHEN).failure is Failure.BAD_SIGNATURE
    assert rpc.verify_params(method, sent, KEYS, WHEN + timedelta(seconds=901)).failure is Failure.EXPIRED
    assert rpc.verify_params(method, sent, {"nobody": SECRET}, WHEN).failure is Failure.UNKNOWN_SECRET_ID


def rpc_common_keys() -> set[str]:
    return {
        "Timestamp",
        "SignatureMethod",
        "SignatureType",
        "SignatureVersion",
        "SignatureNonce",
        "AccessKeyId",
        "Format",
        "Signature",
    }


@pytest.mark.parametrize("http_method", ["GET", "POST"])
def test_same_as_tea_get_rpcsignature(http_method: str) -> None:
    params = {
        "Action": "GetTranscodeTask",
        "Format": "json",
        "Version": "2017-03-21",
        "Timestamp": "2019-01-23T12:35:12Z",
        "SignatureNonce": UUID_NONCE,
        "Title": TRICKY,
        "Blank": "",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0",
        "AccessKeyId": AK,
    }
    assert rpc.compute_signature(rpc.string_to_sign(http_method, params), SECRET) == TeaUtils.get_rpcsignature(
        params, http_method, SECRET
    )


def _rpc_signed(**overrides: str) -> dict[str, str]:
    signed = rpc.sign_params(
        {"Action": "GetTranscodeTask", "TranscodeTaskId": "t1", "Version": "2017-03-21"},
        CRED,
        timestamp=WHEN,
        nonce="n-1",
    )
    signed.update(overrides)
    return signed


@pytest.mark.parametrize(
    ("tamper", "failure", "fragment"),
    [
        ({"TranscodeTaskId": "t2"}, Failure.BAD_SIGNATURE, "does not match"),
        ({"AccessKeyId": "nobody"}, Failure.UNKNOWN_SECRET_ID, "nobody"),
        ({"Timestamp": "2019-01-23T12:35:12+08:00"}, Failure.MALFORMED, "yyyy-MM-ddTHH:mm:ssZ"),
        ({"Timestamp": "1548246912"}, Failure.MALFORMED, "1548246912"),
        ({"Timestamp": "2019-01-23T12:15:11Z"}, Failure.EXPIRED, "1201 s"),
        ({"SignatureMethod": "HMAC-SHA256"}, Failure.UNSUPPORTED, "HMAC-SHA256"),
        ({"SignatureVersion": "2.0"}, Failure.UNSUPPORTED, "2.0"),
        ({"SignatureNonce": ""}, Failure.MISSING, "SignatureNonce"),
        ({"Signature": ""}, Failure.MISSING, "Signature"),
    ],
)
def test_rpc_verify_reports_which_failure(tamper: dict[str, str], failure: Failure, fragment: str) -> None:
    verdict = rpc.verify_params("POST", _rpc_signed(**tamper), KEYS, WHEN)
    assert verdict.failure is failure, verdict.detail
    assert fragment in verdict.detail


def test_rpc_verify_ok_details() -> None:
    verdict = rpc.verify_params("POST", _rpc_signed(), [CRED], WHEN)
    assert verdict.ok
    assert (verdict.secret_id, verdict.nonce, verdict.timestamp) == (AK, "n-1", WHEN)
    bad = rpc.verify_params("POST", _rpc_signed(TranscodeTaskId="t2"), [CRED], WHEN)
    assert bad.string_to_sign is not None and "TranscodeTaskId%3Dt2" in bad.string_to_sign


def test_rpc_accepts_fractional_seconds_and_lowercase_method_name() -> None:
    signed = _rpc_signed(Timestamp="2019-01-23T12:35:12.123Z", SignatureMethod="Hmac-SHA1")
    signed["Signature"] = rpc.compute_signature(rpc.string_to_sign("POST", signed), SECRET)
    assert rpc.verify_params("POST", signed, KEYS, WHEN).ok


def test_security_token_is_signed() -> None:
    signed = rpc.sign_params({"Action": "GetTranscodeTask"}, Credential(AK, SECRET, "sts"), timestamp=WHEN, nonce="n")
    assert signed["SecurityToken"] == "sts"
    assert rpc.verify_params("POST", {**signed, "SecurityToken": "x"}, KEYS, WHEN).failure is Failure.BAD_SIGNATURE


# -------------------------------------------------------------------------------------------------- ACS3

UA = "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2"
ACS_NONCE = "3146a3035e2809f061cd40837d543eb3"


def _call(action: str, query: dict[str, str], **kw: Any) -> acs3.Acs3Call:
    return acs3.Acs3Call(
        host="vod.cn-shanghai.aliyuncs.com",
        action=action,
        version="2017-03-21",
        timestamp=WHEN,
        nonce=ACS_NONCE,
        query=query,
        user_agent=UA,
        **kw,
    )


def test_acs3_reference_vector() -> None:
    headers = acs3.sign_request(_call("GetTranscodeTask", {"TranscodeTaskId": "b1b65ab107e143dbb900f6c1fe0"}), CRED)
    assert headers["Authorization"] == (
        "ACS3-HMAC-SHA256 Credential=testAccessKeyId,SignedHeaders=accept;host;user-agent;x-acs-action;"
        "x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=e33e1c2c5f0aeefe03dd326a505efae58ad325cf70dd2f6db35c268f99af7800"
    )
    assert headers["x-acs-content-sha256"] == acs3.EMPTY_SHA256
    values = acs3.header_values({k: v for k, v in headers.items() if k != "Authorization"})
    canonical = acs3.canonical_request(
        "POST", "/", {"TranscodeTaskId": "b1b65ab107e143dbb900f6c1fe0"}, values, values.keys(), acs3.EMPTY_SHA256
    )
    assert acs3.string_to_sign(canonical) == (
        "ACS3-HMAC-SHA256\n3d2c5ed465778b56b384463887b16e669a68d9156ec948c370fb90a2beb6ebf7"
    )


def test_acs3_tricky_vector() -> None:
    query = {
        "VideoId": "d4860fcc6a5bce9fed52e893824",
        "StartTime": "2019-01-23T12:35:12Z",
        "PageSize": "10",
        "Title": TRICKY,
    }
    assert acs3.canonical_query(query) == (
        "PageSize=10&StartTime=2019-01-23T12%3A35%3A12Z&Title=a%20b%2Ac~d%2Fe%2Bf%3D%E4%B8%AD"
        "&VideoId=d4860fcc6a5bce9fed52e893824"
    )
    headers = acs3.sign_request(_call("ListTranscodeTask", query), CRED)
    assert headers["Authorization"].endswith(
        "Signature=60edbd46a64e2b9f4c152a62dfed01a5f59dcc09d27c76d15856240a18422365"
    )


@pytest.mark.parametrize("body", [b"", b"TranscodeTaskId=x&JobIds=a%2Cb"])
def test_same_as_tea_get_authorization(body: bytes) -> None:
    """alibabacloud_tea_openapi `Utils.get_authorization` on a DaraRequest with the same headers and query."""
    query = {"TranscodeTaskId": "b1b65ab107e143dbb900f6c1fe0", "Title": TRICKY, "Blank": ""}
    extra = {"x-acs-credentials-provider": "static_ak"}
    content_type = "application/x-www-form-urlencoded" if body else None
    ours = acs3.sign_request(
        _call("GetTranscodeTask", query, body=body, content_type=content_type, extra_headers=extra), CRED
    )
    request = DaraRequest()
    request.method = "POST"
    request.pathname = "/"
    request.query = dict(query)
    request.headers = {k: v for k, v in ours.items() if k != "Authorization"}
    theirs = TeaUtils.get_authorization(request, "ACS3-HMAC-SHA256", acs3.sha256_hex(body), AK, SECRET)
    assert ours["Authorization"] == theirs
    verdict = acs3.verify_request("POST", "/", query, ours, body, KEYS, WHEN)
    assert verdict.ok, verdict.detail
    assert verdict.nonce == ACS_NONCE


def _acs3_signed() -> dict[str, str]:
    return acs3.sign_request(_call("GetTranscodeTask", {"TranscodeTaskId": "t1"}), CRED)


def _swap_auth(headers: dict[str, str], old: str, new: str) -> dict[str, str]:
    return {**headers, "Authorization": headers["Authorization"].replace(old, new)}


@pytest.mark.parametrize(
    ("mutate", "query", "body", "failure", "fragment"),
    [
        (lambda h: h, "TranscodeTaskId=t2", b"", Failure.BAD_SIGNATURE, "does not match"),
        (lambda h: h, "TranscodeTaskId=t1", b"x", Failure.BAD_SIGNATURE, "x-acs-content-sha256"),
        (
            lambda h: {**h, "x-acs-action": "DeleteVideo"},
            "TranscodeTaskId=t1",
            b"",
            Failure.BAD_SIGNATURE,
            "does not match",
        ),
        (
            lambda h: {**h, "x-acs-date": "2019-01-23T12:35:13Z"},
            "TranscodeTaskId=t1",
            b"",
            Failure.BAD_SIGNATURE,
            "does not match",
        ),
        (lambda h: {**h, "x-acs-date": "2019-01-23T13:35:13Z"}, "TranscodeTaskId=t1", b"", Failure.EXPIRED, "3601 s"),
        (lambda h: {**h, "x-acs-date": "Wed, 23 Jan 2019"}, "TranscodeTaskId=t1", b"", Failure.MALFORMED, "x-acs-date"),
        (
            lambda h: {k: v for k, v in h.items() if k != "x-acs-date"},
            "TranscodeTaskId=t1",
            b"",
            Failure.MISSING,
            "x-acs-date",
        ),
        (
            lambda h: {k: v for k, v in h.items() if k != "Authorization"},
            "TranscodeTaskId=t1",
            b"",
            Failure.MISSING,
            "Authorization",
        ),
        (
            lambda h: _swap_auth(h, "ACS3-HMAC-SHA256 ", "ACS3-HMAC-SM3 "),
            "TranscodeTaskId=t1",
            b"",
            Failure.UNSUPPORTED,
            "ACS3-HMAC-SM3",
        ),
        (
            lambda h: _swap_auth(h, f"Credential={AK}", "Credential=nobody"),
            "TranscodeTaskId=t1",
            b"",
            Failure.UNKNOWN_SECRET_ID,
            "nobody",
        ),
        (lambda h: _swap_auth(h, ",Signature=", ",Sig="), "TranscodeTaskId=t1", b"", Failure.MALFORMED, "Signature"),
        (
            lambda h: _swap_auth(h, "x-acs-action;", ""),
            "TranscodeTaskId=t1",
            b"",
            Failure.BAD_SIGNATURE,
            "x-acs-action is present but not signed",
        ),
        (
            lambda h: {k: v for k, v in h.items() if k != "accept"},
            "TranscodeTaskId=t1",
            b"",
            Failure.BAD_SIGNATURE,
            "signed header accept",
        ),
    ],
)
def test_acs3_verify_reports_which_failure(
    mutate: Any, query: str, body: bytes, failure: Failure, fragment: str
) -> None:
    verdict = acs3.verify_request("POST", "/", query, mutate(_acs3_signed()), body, KEYS, WHEN)
    assert verdict.failure is failure, verdict.detail
    assert fragment in verdict.detail


def test_acs3_repeated_headers_are_joined_sorted() -> None:
    headers = {k: v for k, v in _acs3_signed().items() if k != "Authorization"}
    pairs = [*headers.items(), ("x-extra", "b"), ("x-extra", "a")]
    values = acs3.header_values(pairs)
    assert acs3.canonical_headers(values, ["x-extra"]) == ("x-extra:a,b\n", "x-extra")
    canonical = acs3.canonical_request("POST", "/", {"TranscodeTaskId": "t1"}, values, values.keys(), acs3.EMPTY_SHA256)
    signature = acs3.compute_signature(SECRET, acs3.string_to_sign(canonical))
    auth = acs3.authorization(AK, ";".join(sorted(values)), signature)
    assert acs3.verify_request("POST", "/", "TranscodeTaskId=t1", [*pairs, ("Authorization", auth)], b"", KEYS, WHEN).ok
    one_missing = [*headers.items(), ("x-extra", "b"), ("Authorization", auth)]
    assert (
        acs3.verify_request("POST", "/", "TranscodeTaskId=t1", one_missing, b"", KEYS, WHEN).failure
        is Failure.BAD_SIGNATURE
    )


def test_acs3_security_token_headers_are_signed() -> None:
    headers = acs3.sign_request(_call("GetTranscodeTask", {}), Credential(AK, SECRET, "sts-token"))
    assert headers["x-acs-security-token"] == "sts-token"
    assert "x-acs-security-token" in headers["Authorization"]
    assert acs3.verify_request("POST", "/", "", headers, b"", KEYS, WHEN).ok
