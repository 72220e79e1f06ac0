"""The official SDKs, unchanged but for the endpoint, send real requests to a local server; what arrives is
checked with our verifiers (and a request signed with another key is refused for the right reason)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import pytest
import uvicorn
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_vod20170321 import models as ali_vod_models
from alibabacloud_vod20170321.client import Client as TeaVodClient
from aliyunsdkcore.client import AcsClient
from aliyunsdkvod.request.v20170321.GetTranscodeTaskRequest import GetTranscodeTaskRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.mps.v20190612 import models as mps_models
from tencentcloud.mps.v20190612.mps_client import MpsClient
from tencentcloud.vod.v20180717 import models as vod_models
from tencentcloud.vod.v20180717.vod_client import VodClient

from receiver.signing import Failure, tc3, tencent_v2
from receiver.signing import aliyun_acs3 as acs3
from receiver.signing import aliyun_rpc as rpc

# A real HTTP server (uvicorn on an ephemeral port, in a thread) recording what the SDKs send, so their
# requests are checked exactly as they arrive on the wire.


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)


@dataclass
class Recorder:
    url: str
    port: int
    received: list[Received] = field(default_factory=list)

    def last(self) -> Received:
        assert self.received, "the server received nothing"
        return self.received[-1]


def _app(recorder: Recorder) -> Starlette:
    async def capture(request: Request) -> Response:
        body = await request.body()
        recorder.received.append(
            Received(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
                body=body,
            )
        )
        # One body every SDK under test parses: Tencent reads "Response", Alibaba "RequestId".
        payload = b'{"Response": {"RequestId": "00000000-0000-0000-0000-000000000000"}, "RequestId": "F4C6D5BE"}'
        return Response(payload, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", capture, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    rec = Recorder(url="", port=0)
    config = uvicorn.Config(
        _app(rec), host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none", http="h11", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the recording server did not start")
        time.sleep(0.01)
    rec.port = server.servers[0].sockets[0].getsockname()[1]
    rec.url = f"http://127.0.0.1:{rec.port}"
    yield rec
    server.should_exit = True
    thread.join(timeout=10)


SECRETS = {"test": "test", "AKIDrotated": "rotated-secret"}


def _now() -> datetime:
    return datetime.now(UTC)


@pytest.mark.parametrize("http_method", ["POST", "GET"])
@pytest.mark.parametrize("product", ["vod", "mps"])
def test_tencentcloud_sdk_tc3(recorder: Recorder, http_method: str, product: str) -> None:
    profile = ClientProfile(
        httpProfile=HttpProfile(endpoint=f"127.0.0.1:{recorder.port}", protocol="http", reqMethod=http_method)
    )
    for secret_key, expected in (("test", None), ("wrong", Failure.BAD_SIGNATURE)):
        cred = credential.Credential("test", secret_key)
        if product == "vod":
            vod_request = vod_models.DescribeTaskDetailRequest()
            vod_request.TaskId = "1256768367-Procedure-475b7237438a39560b9879a4556cb177t1"
            VodClient(cred, "ap-guangzhou", profile).DescribeTaskDetail(vod_request)
        else:
            mps_request = mps_models.DescribeTaskDetailRequest()
            mps_request.TaskId = "2600010949-WorkflowTask-764a7f3ca6f6eb13cda2048cfb034025tt7"
            MpsClient(cred, "", profile).DescribeTaskDetail(mps_request)
        got = recorder.last()
        verdict = tc3.verify_request(
            got.method, got.path, got.query, dict(got.headers), got.body, SECRETS, _now(), service=product
        )
        assert verdict.failure is expected, verdict.detail


@pytest.mark.parametrize("sign_method", ["HmacSHA1", "HmacSHA256"])
def test_tencentcloud_sdk_legacy_sign_method(recorder: Recorder, sign_method: str) -> None:
    """signMethod HmacSHA1/256: the API 2.0 scheme, POSTed as a form to `/`."""
    profile = ClientProfile(
        signMethod=sign_method, httpProfile=HttpProfile(endpoint=f"127.0.0.1:{recorder.port}", protocol="http")
    )
    request = vod_models.PullEventsRequest()
    VodClient(credential.Credential("test", "test"), "ap-guangzhou", profile).PullEvents(request)
    got = recorder.last()
    assert got.method == "POST"
    params = dict(parse_qsl(got.body.decode(), keep_blank_values=True))
    target = tencent_v2.SigningTarget("POST", f"127.0.0.1:{recorder.port}", "/")
    assert tencent_v2.verify_params(params, target=target, secrets=SECRETS, now=_now()).ok
    assert (
        tencent_v2.verify_params(params, target=target, secrets={"test": "x"}, now=_now()).failure
        is Failure.BAD_SIGNATURE
    )


def test_aliyun_core_sdk_rpc_v1(recorder: Recorder) -> None:
    for secret, expected in (("test", None), ("wrong", Failure.BAD_SIGNATURE)):
        client = AcsClient("test", secret, "cn-shanghai")
        request = GetTranscodeTaskRequest()
        request.set_endpoint(f"127.0.0.1:{recorder.port}")
        request.set_protocol_type("http")
        request.set_TranscodeTaskId("b1b65ab107e143dbb900f6c1fe0")
        client.do_action_with_exception(request)
        got = recorder.last()
        params = {
            **dict(parse_qsl(got.query, keep_blank_values=True)),
            **dict(parse_qsl(got.body.decode(), keep_blank_values=True)),
        }
        assert params["SignatureType"] == ""
        verdict = rpc.verify_params(got.method, params, SECRETS, _now())
        assert verdict.failure is expected, verdict.detail
        assert verdict.nonce == params["SignatureNonce"]


@pytest.mark.parametrize("algorithm", [None, "v2"])
def test_aliyun_tea_sdk(recorder: Recorder, algorithm: str | None) -> None:
    """alibabacloud-vod20170321: ACS3-HMAC-SHA256 by default, RPC v1 with `signature_algorithm='v2'`."""
    for secret, expected in (("test", None), ("wrong", Failure.BAD_SIGNATURE)):
        config = open_api_models.Config(
            access_key_id="test",
            access_key_secret=secret,
            region_id="cn-shanghai",
            endpoint=f"127.0.0.1:{recorder.port}",
            protocol="http",
        )
        if algorithm:
            config.signature_algorithm = algorithm
        client = TeaVodClient(config)
        client.get_transcode_task(ali_vod_models.GetTranscodeTaskRequest(transcode_task_id="b1b65ab107e143dbb9"))
        got = recorder.last()
        if algorithm == "v2":
            params = {
                **dict(parse_qsl(got.query, keep_blank_values=True)),
                **dict(parse_qsl(got.body.decode(), keep_blank_values=True)),
            }
            verdict = rpc.verify_params(got.method, params, SECRETS, _now())
        else:
            assert (got.header("authorization") or "").startswith("ACS3-HMAC-SHA256 ")
            verdict = acs3.verify_request(got.method, got.path, got.query, got.headers, got.body, SECRETS, _now())
        assert verdict.failure is expected, verdict.detail
