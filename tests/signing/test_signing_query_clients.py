"""The fallback's query clients against a tiny in-test provider that checks every signature with our
verifiers and answers in the providers' own shapes (success and each error family)."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from receiver.clock import ManualClock
from receiver.dialects.aliyun_vod.client import AliyunVodClient
from receiver.dialects.tencent_mps.client import MpsClient
from receiver.dialects.tencent_vod_v2.client import LegacyVodClient, legacy_code
from receiver.dialects.tencent_vod_v3.client import VodV3Client
from receiver.signing import Credential, Failure, Verified, aliyun_acs3, aliyun_rpc, tc3, tencent_v2
from receiver.signing.query import ProviderError

ENDPOINT = "http://emulator.test:8080"
CRED = Credential("AKIDclient", "client-secret")
KEYS = {"AKIDclient": "client-secret"}
START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _failure(verdict: Verified) -> Failure:
    assert verdict.failure is not None
    return verdict.failure


@dataclass
class Provider:
    """Verifies with the server's clock, remembers what it saw, answers by task id."""

    clock: ManualClock = field(default_factory=lambda: ManualClock(START))
    verdicts: list[Verified] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        auth = request.headers.get("authorization", "")
        if request.url.path == "/v2/index.php":
            return self.legacy(request, body)
        if auth.startswith("TC3-HMAC-SHA256"):
            return self.api3(request, body)
        return self.aliyun(request, body)

    # Tencent legacy ---------------------------------------------------------------------------------
    def legacy(self, request: Request, body: bytes) -> Response:
        raw = request.url.query if request.method == "GET" else body.decode()
        params = dict(parse_qsl(raw, keep_blank_values=True))
        target = tencent_v2.SigningTarget(request.method, request.headers["host"], request.url.path)
        verdict = tencent_v2.verify_params(params, target=target, secrets=KEYS, now=self.clock.now())
        self.verdicts.append(verdict)
        self.seen.append(params)
        if not verdict.ok:
            code = {Failure.UNKNOWN_SECRET_ID: 4104, Failure.EXPIRED: 4500}.get(_failure(verdict), 4100)
            return JSONResponse({"code": code, "message": verdict.detail, "codeDesc": "AuthFailure"})
        task = params.get("vodTaskId", "")
        if task == "gone":
            return JSONResponse({"code": 70014, "message": "task not exist", "codeDesc": "TaskNotExist"})
        if task == "busy":
            return JSONResponse({"code": "4400", "message": "over quota", "codeDesc": "RequestLimitExceeded"})
        if task == "broken":
            return Response(b"<html>bad gateway</html>", status_code=502)
        if params["Action"] == "GetProcedureInfo":
            return JSONResponse({"code": "4.0", "message": "", "status": "FINISH", "processTaskList": []})
        if params["Action"] == "PullEvent":
            return JSONResponse({"code": 0, "message": "", "eventList": [{"msgHandle": "h1", "eventContent": {}}]})
        return JSONResponse({"code": 0, "codeDesc": "Success", "message": "", "echo": params})

    # Tencent API 3.0 --------------------------------------------------------------------------------
    def api3(self, request: Request, body: bytes) -> Response:
        action = request.headers.get("x-tc-action", "")
        verdict = tc3.verify_request(
            request.method, request.url.path, request.url.query, dict(request.headers), body, KEYS, self.clock.now()
        )
        self.verdicts.append(verdict)
        params = json.loads(body or b"{}")
        self.seen.append(params)

        def error(code: str, message: str = "") -> Response:
            payload = {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "req-1"}}
            return Response(json.dumps(payload), media_type="application/json")

        if not verdict.ok:
            codes = {
                Failure.EXPIRED: "AuthFailure.SignatureExpire",
                Failure.UNKNOWN_SECRET_ID: "AuthFailure.SecretIdNotFound",
            }
            return error(codes.get(_failure(verdict), "AuthFailure.SignatureFailure"), verdict.detail)
        task = params.get("TaskId")
        if action == "PullEvents" or task == "gone":
            return error("ResourceNotFound", "nothing here")
        if task == "old":
            return error("InvalidParameterValue.TaskId", "task id does not exist")
        if task == "busy":
            return error("RequestLimitExceeded", "slow down")
        if task == "oops":
            return error("InternalError", "try later")
        if task == "http500":
            return Response(b'{"oops": true}', status_code=500, media_type="application/json")
        if task == "notjson":
            return Response(b"not json", media_type="application/json")
        return Response(
            json.dumps({"Response": {"Echo": params, "Action": action, "RequestId": "req-2"}}),
            media_type="application/json",
        )

    # Alibaba ----------------------------------------------------------------------------------------
    def aliyun(self, request: Request, body: bytes) -> Response:
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        if request.headers.get("authorization", "").startswith("ACS3"):
            verdict = aliyun_acs3.verify_request(
                request.method,
                request.url.path,
                request.url.query,
                request.headers.items(),
                body,
                KEYS,
                self.clock.now(),
            )
            action = request.headers["x-acs-action"]
        else:
            verdict = aliyun_rpc.verify_params(request.method, query, KEYS, self.clock.now())
            action = query.get("Action", "")
        self.verdicts.append(verdict)
        self.seen.append(query)

        def error(status: int, code: str, message: str) -> Response:
            payload = {
                "RequestId": "F4C6",
                "HostId": "vod.cn-shanghai.aliyuncs.com",
                "Code": code,
                "Message": message,
                "Recommend": "https://api.aliyun.com/troubleshoot",
            }
            return JSONResponse(payload, status_code=status)

        if not verdict.ok:
            codes = {
                Failure.EXPIRED: "InvalidTimeStamp.Expired",
                Failure.UNKNOWN_SECRET_ID: "InvalidAccessKeyId.NotFound",
            }
            code = codes.get(_failure(verdict), "SignatureDoesNotMatch")
            return error(400, code, verdict.detail)
        task = query.get("TranscodeTaskId")
        if task == "gone":
            return error(404, "NoSuchResource", "The specified resource TranscodeTask does not exist.")
        if task == "busy":
            return error(400, "Throttling.User", "Request was denied due to user flow control.")
        if task == "oops":
            return Response(b"upstream exploded", status_code=503)
        return JSONResponse({"RequestId": "F4C6", "Action": action, "Echo": query})


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
async def http(provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=provider.app())) as client:
        yield client


async def _raises(call: Callable[[], Any]) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await call()
    return caught.value


# --------------------------------------------------------------------------------------- Tencent legacy


@pytest.mark.anyio
@pytest.mark.parametrize("http_method", ["GET", "POST"])
@pytest.mark.parametrize("method", list(tencent_v2.SignatureMethod))
async def test_legacy_client_signs_and_answers(
    provider: Provider, http: httpx.AsyncClient, http_method: str, method: tencent_v2.SignatureMethod
) -> None:
    client = LegacyVodClient(
        CRED, endpoint=ENDPOINT, http=http, clock=provider.clock, signature_method=method, http_method=http_method
    )
    answer = await client.get_task_info("1251989944-Procedure-d7c9631c15ecf653b1ff67e34cb04692")
    assert provider.verdicts[-1].ok
    assert answer["code"] == 0
    assert answer["echo"]["vodTaskId"] == "1251989944-Procedure-d7c9631c15ecf653b1ff67e34cb04692"
    assert answer["echo"]["SignatureMethod"] == method.value
    assert answer["echo"]["Region"] == "gz"

    procedure = await client.get_procedure_info("p1")
    assert procedure["code"] == "4.0"  # the seed's success example: not an error code

    events = await client.pull_event()
    assert events["eventList"][0]["msgHandle"] == "h1"
    confirmed = await client.confirm_event(["h1", "h 2"])
    assert confirmed["echo"]["msgHandle.0"] == "h1" and confirmed["echo"]["msgHandle.1"] == "h 2"
    listed = await client.get_task_list(status="FINISH", size=100)
    assert (listed["echo"]["status"], listed["echo"]["size"]) == ("FINISH", "100")
    assert "next" not in listed["echo"]


@pytest.mark.anyio
async def test_legacy_client_error_classes(provider: Provider, http: httpx.AsyncClient) -> None:
    client = LegacyVodClient(CRED, endpoint=ENDPOINT, http=http, clock=provider.clock)
    gone = await _raises(lambda: client.get_task_info("gone"))
    assert (gone.code, gone.not_found, gone.retryable, gone.rate_limited) == ("70014", True, False, False)
    busy = await _raises(lambda: client.get_task_info("busy"))
    assert (busy.code, busy.rate_limited, busy.retryable, busy.not_found) == ("4400", True, True, False)
    broken = await _raises(lambda: client.get_task_info("broken"))
    assert (broken.code, broken.http_status, broken.retryable) == ("ServerNetworkError", 502, True)

    wrong = LegacyVodClient(Credential("AKIDclient", "wrong"), endpoint=ENDPOINT, http=http, clock=provider.clock)
    denied = await _raises(lambda: wrong.get_task_info("t"))
    assert (denied.code, denied.auth_failed, denied.retryable) == ("4100", True, False)
    assert provider.verdicts[-1].failure is Failure.BAD_SIGNATURE

    late = LegacyVodClient(CRED, endpoint=ENDPOINT, http=http, clock=ManualClock(START.replace(hour=13)))
    expired = await _raises(lambda: late.get_task_info("t"))
    assert (expired.code, expired.auth_failed) == ("4500", True)
    assert provider.verdicts[-1].failure is Failure.EXPIRED


def test_legacy_code_reading() -> None:
    assert [legacy_code(v) for v in (0, "5100", " 70014 ", 4400.0, "4.0", None, True, "x")] == [
        0,
        5100,
        70014,
        4400,
        None,
        None,
        None,
        None,
    ]


# ----------------------------------------------------------------------------------- Tencent API 3.0


@pytest.mark.anyio
async def test_vod_v3_client(provider: Provider, http: httpx.AsyncClient) -> None:
    client = VodV3Client(CRED, endpoint=ENDPOINT, http=http, clock=provider.clock, region="ap-guangzhou")
    answer = await client.describe_task_detail("1256768367-Procedure-475b7237438a39560b9879a4556cb177t1")
    assert provider.verdicts[-1].ok
    assert answer["Response"]["Action"] == "DescribeTaskDetail"
    assert answer["Response"]["Echo"] == {"TaskId": "1256768367-Procedure-475b7237438a39560b9879a4556cb177t1"}

    listing = await client.describe_tasks(
        status="FINISH", created_after="2026-03-01T00:00:00Z", limit=100, sort_ascending=True
    )
    assert listing["Response"]["Echo"] == {
        "Status": "FINISH",
        "CreateTime": {"After": "2026-03-01T00:00:00Z"},
        "Sort": {"Field": "CreateTime", "Order": "Asc"},
        "Limit": 100,
    }
    empty = await client.pull_events()
    assert empty == {"Response": {"EventSet": [], "RequestId": "req-1"}}
    confirmed = await client.confirm_events(["e1", "e2"], sub_app_id=1500000001)
    assert confirmed["Response"]["Echo"] == {"EventHandles": ["e1", "e2"], "SubAppId": 1500000001}
    with pytest.raises(ValueError, match="at most 16"):
        await client.confirm_events([f"e{i}" for i in range(17)])


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("task", "code", "flags"),
    [
        ("gone", "ResourceNotFound", {"not_found": True, "retryable": False}),
        ("old", "InvalidParameterValue.TaskId", {"not_found": True, "retryable": False}),
        ("busy", "RequestLimitExceeded", {"rate_limited": True, "retryable": True}),
        ("oops", "InternalError", {"retryable": True, "not_found": False}),
        ("http500", "ServerNetworkError", {"retryable": True, "http_status": 500}),
        ("notjson", "InvalidResponse", {"retryable": True}),
    ],
)
async def test_api3_error_classes(
    provider: Provider, http: httpx.AsyncClient, task: str, code: str, flags: dict[str, Any]
) -> None:
    for client in (
        VodV3Client(CRED, endpoint=ENDPOINT, http=http, clock=provider.clock),
        MpsClient(CRED, endpoint=ENDPOINT, http=http, clock=provider.clock),
    ):
        error = await _raises(lambda c=client: c.describe_task_detail(task))
        assert error.code == code
        assert error.dialect == client.dialect
        for name, value in flags.items():
            assert getattr(error, name) == value, name


@pytest.mark.anyio
async def test_api3_auth_failures(provider: Provider, http: httpx.AsyncClient) -> None:
    wrong = MpsClient(Credential("AKIDclient", "nope"), endpoint=ENDPOINT, http=http, clock=provider.clock)
    error = await _raises(lambda: wrong.describe_task_detail("t"))
    assert (error.code, error.auth_failed, error.retryable, error.request_id) == (
        "AuthFailure.SignatureFailure",
        True,
        False,
        "req-1",
    )
    stranger = MpsClient(Credential("AKIDstranger", "x"), endpoint=ENDPOINT, http=http, clock=provider.clock)
    assert (await _raises(lambda: stranger.describe_task_detail("t"))).code == "AuthFailure.SecretIdNotFound"
    provider.clock.advance(301)
    client = MpsClient(CRED, endpoint=ENDPOINT, http=http, clock=ManualClock(START))
    assert (await _raises(lambda: client.describe_task_detail("t"))).code == "AuthFailure.SignatureExpire"


@pytest.mark.anyio
async def test_mps_client(provider: Provider, http: httpx.AsyncClient) -> None:
    async with MpsClient(CRED, endpoint=ENDPOINT, http=http, clock=provider.clock) as client:
        answer = await client.describe_tasks(status="FINISH", sub_task_has_failed=False, limit=10)
    assert provider.verdicts[-1].ok
    assert answer["Response"]["Echo"] == {"Status": "FINISH", "SubTaskHasFailed": False, "Limit": 10}
    assert not http.is_closed  # a client given to it is the caller's to close


# ---------------------------------------------------------------------------------------------- Alibaba


@pytest.mark.anyio
@pytest.mark.parametrize("signature", ["rpc", "acs3"])
async def test_aliyun_client(provider: Provider, http: httpx.AsyncClient, signature: Any) -> None:
    client = AliyunVodClient(CRED, endpoint=ENDPOINT, http=http, clock=provider.clock, signature=signature)
    answer = await client.get_transcode_task("b1b65ab107e143dbb900f6c1fe0")
    assert provider.verdicts[-1].ok, provider.verdicts[-1].detail
    assert answer["Action"] == "GetTranscodeTask"
    assert answer["Echo"]["TranscodeTaskId"] == "b1b65ab107e143dbb900f6c1fe0"
    listing = await client.list_transcode_task("d4860fcc", start_time="2026-03-01T00:00:00Z", page_size=50)
    assert provider.verdicts[-1].ok
    assert listing["Echo"]["StartTime"] == "2026-03-01T00:00:00Z"
    jobs = await client.get_transcode_task(job_ids=["a b", "c*"])
    assert jobs["Echo"]["JobIds"] == "a b,c*"
    assert provider.verdicts[-1].ok

    gone = await _raises(lambda: client.get_transcode_task("gone"))
    assert (gone.code, gone.http_status, gone.not_found, gone.request_id) == ("NoSuchResource", 404, True, "F4C6")
    busy = await _raises(lambda: client.get_transcode_task("busy"))
    assert (busy.code, busy.rate_limited, busy.retryable) == ("Throttling.User", True, True)
    oops = await _raises(lambda: client.get_transcode_task("oops"))
    assert (oops.code, oops.retryable, oops.not_found) == ("HTTP503", True, False)

    wrong = AliyunVodClient(
        Credential("AKIDclient", "nope"), endpoint=ENDPOINT, http=http, clock=provider.clock, signature=signature
    )
    denied = await _raises(lambda: wrong.get_transcode_task("t"))
    assert (denied.code, denied.auth_failed, denied.retryable) == ("SignatureDoesNotMatch", True, False)
    late = AliyunVodClient(
        CRED, endpoint=ENDPOINT, http=http, clock=ManualClock(START.replace(hour=13)), signature=signature
    )
    assert (await _raises(lambda: late.get_transcode_task("t"))).code == "InvalidTimeStamp.Expired"


# -------------------------------------------------------------------------------------------- transport


@pytest.mark.anyio
async def test_network_failure_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = VodV3Client(CRED, endpoint=f"http://127.0.0.1:{port}", timeout_s=2.0)
    try:
        error = await _raises(lambda: client.describe_task_detail("t"))
    finally:
        await client.aclose()
    assert (error.code, error.retryable, error.http_status) == ("ClientNetworkError", True, None)


def test_endpoint_validation() -> None:
    with pytest.raises(ValueError, match="ftp://x"):
        VodV3Client(CRED, endpoint="ftp://x")
    assert VodV3Client(CRED, endpoint="127.0.0.1:9000").transport.base_url == "https://127.0.0.1:9000"
    assert AliyunVodClient(CRED, region="cn-beijing").transport.host == "vod.cn-beijing.aliyuncs.com"
