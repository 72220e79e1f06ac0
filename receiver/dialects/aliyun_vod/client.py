"""Query client for Alibaba Cloud VOD (`vod.<region>.aliyuncs.com`, RPC API 2017-03-21).

GetTranscodeTask for the fallback's polling; GetVideoList, then ListTranscodeTask per video, for its sweep.
Calls go out as the official SDKs send them: `POST /?<parameters>` with an empty body, signed with the RPC v1
HMAC-SHA1 signature (the old core SDK's, the default here) or ACS3-HMAC-SHA256 (the Tea SDK's default). Each
method returns the decoded JSON document unchanged, or raises `ProviderError` for the 4xx/5xx `{RequestId,
HostId, Code, Message, Recommend}` answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

from receiver.clock import Clock
from receiver.signing import Credential, aliyun_acs3, aliyun_rpc
from receiver.signing.query import (
    DEFAULT_TIMEOUT_S,
    ProviderError,
    QueryClient,
    QueryTransport,
    random_hex_nonce,
)

__all__ = ["AliyunVodClient", "ProviderError", "aliyun_error"]

DIALECT = "aliyun-vod"
VERSION = "2017-03-21"

#: Unknown or older than the one-year window (GetTranscodeTask documents 404 NoSuchResource).
NOT_FOUND_CODES = frozenset({"NoSuchResource", "InvalidVideo.NotFound", "InvalidTranscodeTask.NotFound"})
AUTH_CODES = frozenset(
    {
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidTimeStamp.Expired",
        "InvalidTimeStamp.Format",
        "SignatureNonceUsed",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "InvalidSecurityToken.Expired",
        "Forbidden",
        "Forbidden.RAM",
        "OperationDenied",
        "OperationDenied.Suspended",
    }
)
#: A fresh nonce is all a reused-nonce answer needs.
RETRYABLE_CODES = frozenset({"InternalError", "ServiceUnavailable", "ServiceUnAvailable", "SignatureNonceUsed"})


def aliyun_error(action: str, document: Mapping[str, Any] | None, http_status: int, text: str) -> ProviderError:
    """Classify an Alibaba POP error answer; `document` is its JSON body (None when it was not JSON)."""
    body = document or {}
    code = str(body.get("Code") or body.get("code") or f"HTTP{http_status}")
    message = str(body.get("Message") or body.get("message") or text[:200])
    request_id = body.get("RequestId") or body.get("requestId")
    rate_limited = code.startswith("Throttling") or http_status == 429
    return ProviderError(
        dialect=DIALECT,
        action=action,
        code=code,
        message=message,
        request_id=str(request_id) if request_id else None,
        http_status=http_status,
        retryable=rate_limited or code in RETRYABLE_CODES or http_status >= 500,
        not_found=code in NOT_FOUND_CODES or (http_status == 404 and code == f"HTTP{http_status}"),
        rate_limited=rate_limited,
        auth_failed=code in AUTH_CODES and code != "SignatureNonceUsed",
    )


class AliyunVodClient(QueryClient):
    """`AliyunVodClient(Credential(ak, secret), endpoint="http://127.0.0.1:8000")` points it at the
    emulator; without an endpoint it calls `https://vod.<region>.aliyuncs.com`."""

    def __init__(
        self,
        credential: Credential,
        *,
        region: str = "cn-shanghai",
        endpoint: str | None = None,
        signature: Literal["rpc", "acs3"] = "rpc",
        http: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Clock | None = None,
        nonce: Callable[[], str] = random_hex_nonce,
    ) -> None:
        self.credential = credential
        self.region = region
        self.signature = signature
        self.nonce = nonce
        self.transport = QueryTransport(
            endpoint or f"https://vod.{region}.aliyuncs.com",
            dialect=DIALECT,
            http=http,
            timeout_s=timeout_s,
            clock=clock,
        )

    async def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        given = {k: str(v) for k, v in params.items() if v is not None}
        when = self.transport.clock.now()
        if self.signature == "rpc":
            unsigned = {"Action": action, "Version": VERSION, "RegionId": self.region, **given}
            signed = aliyun_rpc.sign_params(unsigned, self.credential, timestamp=when, nonce=self.nonce())
            query = urlencode(signed, quote_via=_quote)
            headers = {"x-acs-action": action, "x-acs-version": VERSION}
        else:
            call = aliyun_acs3.Acs3Call(
                host=self.transport.host,
                action=action,
                version=VERSION,
                timestamp=when,
                nonce=self.nonce(),
                query=given,
            )
            headers = aliyun_acs3.sign_request(call, self.credential)
            headers.pop("host")  # the transport sends Host itself, with the same value
            query = urlencode(given, quote_via=_quote)
        response = await self.transport.send(action, "POST", "/", query=query, headers=headers)
        if response.status_code >= 400:
            try:
                document = response.json()
            except ValueError:
                document = None
            raise aliyun_error(
                action, document if isinstance(document, dict) else None, response.status_code, response.text
            )
        document = self.transport.decode(action, response)
        if not isinstance(document, dict):
            raise ProviderError(
                dialect=DIALECT,
                action=action,
                code="InvalidResponse",
                message=f"answer is not a JSON object: {response.text[:120]!r}",
                http_status=response.status_code,
                retryable=True,
            )
        return document

    async def get_transcode_task(
        self, transcode_task_id: str | None = None, *, job_ids: list[str] | None = None
    ) -> dict[str, Any]:
        """One task (`TranscodeTask`) by id, or jobs (`TranscodeJobInfoList`, `NonExistJobIds`) by JobIds."""
        if not transcode_task_id and not job_ids:
            raise ValueError("get_transcode_task needs a TranscodeTaskId or JobIds")
        params = {"TranscodeTaskId": transcode_task_id, "JobIds": ",".join(job_ids) if job_ids else None}
        return await self.call("GetTranscodeTask", params)

    async def list_transcode_task(
        self,
        video_id: str,
        *,
        start_time: str | None = None,
        end_time: str | None = None,
        page_size: int | None = None,
        page_no: int | None = None,
    ) -> dict[str, Any]:
        """A video's tasks (`TranscodeTaskList`), times `yyyy-MM-ddTHH:mm:ssZ`, pages of 1..50."""
        params = {
            "VideoId": video_id,
            "StartTime": start_time,
            "EndTime": end_time,
            "PageSize": page_size,
            "PageNo": page_no,
        }
        return await self.call("ListTranscodeTask", params)

    async def get_video_list(
        self,
        *,
        start_time: str | None = None,
        end_time: str | None = None,
        sort_by: Literal["CreationTime:Asc", "CreationTime:Desc"] | None = None,
        status: str | None = None,
        page_size: int | None = None,
        page_no: int | None = None,
    ) -> dict[str, Any]:
        """The account's videos by CreationTime (`VideoList.Video`, `Total`), pages of 1..100, the first 5000
        matches of a filter: the sweep's way to the VideoIds ListTranscodeTask needs."""
        params = {
            "StartTime": start_time,
            "EndTime": end_time,
            "SortBy": sort_by,
            "Status": status,
            "PageSize": page_size,
            "PageNo": page_no,
        }
        return await self.call("GetVideoList", params)


def _quote(value: str | bytes, safe: str | bytes = "", encoding: str | None = None, errors: str | None = None) -> str:
    """Percent-encode a query value the Alibaba way (space `%20`, `*` `%2A`, `~` kept)."""
    text = value.decode("utf-8") if isinstance(value, bytes) else value
    return aliyun_rpc.percent_encode(text)
