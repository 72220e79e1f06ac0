"""Query client for Tencent VOD legacy API 2.0 (`vod.api.qcloud.com/v2/index.php`), HmacSHA1/HmacSHA256.

GetTaskInfo, GetProcedureInfo and GetTaskList for the fallback's polling and sweep, PullEvent and
ConfirmEvent for reliable-callback (pull) mode. Parameters travel in the query (GET, the legacy SDK's
default) or a form body (POST); every answer is the decoded document unchanged, `{code, message, codeDesc,
…}`, or a `ProviderError` when `code` is a non-zero integer (number or numeric string, quirk Q2; the
GetProcedureInfo seed's success example even shows `"code": "4.0"`, which is not an error code).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx

from receiver.clock import Clock
from receiver.signing import Credential
from receiver.signing.query import DEFAULT_TIMEOUT_S, ProviderError, QueryClient, QueryTransport, random_nonce
from receiver.signing.tencent_v2 import LEGACY_PATH, SignatureMethod, SigningTarget, sign_params

__all__ = ["LegacyVodClient", "ProviderError", "legacy_error"]

DIALECT = "tencent-vod-v2"
DEFAULT_ENDPOINT = "https://vod.api.qcloud.com"

#: Codes meaning "no such task (or older than the 72 h window)": 70014 task does not exist, 5000 resource
#: does not exist.
NOT_FOUND_CODES = frozenset({70014, 5000})
#: 4400: request count over quota, the legacy API's rate-limit answer.
RATE_LIMIT_CODES = frozenset({4400})
#: 4100-4110 authentication/CAM, 4200 request expired, 4300 access denied, 4500 replay (nonce/timestamp).
AUTH_CODES = frozenset({4100, 4101, 4102, 4103, 4104, 4105, 4106, 4110, 4200, 4300, 4500})
#: Internal errors worth another try: 6000 server error, 6200 temporarily unavailable, 1001/2000 internal
#: (PullEvent/ConfirmEvent), 10027 internal (GetTaskInfo).
RETRYABLE_CODES = frozenset({6000, 6200, 1001, 2000, 10027}) | RATE_LIMIT_CODES

_INTEGER = re.compile(r"-?\d+")


def legacy_code(value: Any) -> int | None:
    """`code` as an integer when it is one (a number or a numeric string); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    return None


def legacy_error(action: str, document: Mapping[str, Any], http_status: int | None = 200) -> ProviderError | None:
    """The `ProviderError` a legacy answer carries, or None when it reports success."""
    code = legacy_code(document.get("code"))
    if code is None or code == 0:
        return None
    code_desc = str(document.get("codeDesc") or "")
    message = str(document.get("message") or code_desc)
    return ProviderError(
        dialect=DIALECT,
        action=action,
        code=str(code),
        message=f"{code_desc}: {message}" if code_desc and code_desc not in message else message,
        request_id=str(document["requestId"]) if document.get("requestId") else None,
        http_status=http_status,
        retryable=code in RETRYABLE_CODES,
        not_found=code in NOT_FOUND_CODES or "notfound" in code_desc.replace(" ", "").lower(),
        rate_limited=code in RATE_LIMIT_CODES,
        auth_failed=code in AUTH_CODES,
    )


class LegacyVodClient(QueryClient):
    """`LegacyVodClient(Credential(id, key), endpoint="https://127.0.0.1:8443")` points it at the emulator;
    the signature binds the endpoint's `host[:port]` and `path`, as the legacy SDK signs them."""

    def __init__(
        self,
        credential: Credential,
        *,
        endpoint: str | None = None,
        path: str = LEGACY_PATH,
        region: str | None = "gz",
        signature_method: SignatureMethod = SignatureMethod.HMAC_SHA1,
        http_method: str = "GET",
        http: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Clock | None = None,
        nonce: Callable[[], int] = random_nonce,
    ) -> None:
        if http_method.upper() not in ("GET", "POST"):
            raise ValueError(f"the legacy API takes GET or POST, not {http_method!r}")
        self.credential = credential
        self.path = path
        self.region = region
        self.signature_method = signature_method
        self.http_method = http_method.upper()
        self.nonce = nonce
        self.transport = QueryTransport(
            endpoint or DEFAULT_ENDPOINT, dialect=DIALECT, http=http, timeout_s=timeout_s, clock=clock
        )

    async def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        unsigned: dict[str, str | int] = {"Action": action}
        if self.region:
            unsigned["Region"] = self.region
        unsigned.update({k: v for k, v in params.items() if v is not None})
        target = SigningTarget(self.http_method, self.transport.host, self.path)
        signed = sign_params(
            unsigned,
            self.credential,
            timestamp=self.transport.now_s(),
            nonce=self.nonce(),
            target=target,
            signature_method=self.signature_method,
        )
        encoded = urlencode(signed)
        if self.http_method == "GET":
            response = await self.transport.send(action, "GET", self.path, query=encoded)
        else:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            response = await self.transport.send(
                action, "POST", self.path, headers=headers, content=encoded.encode("ascii")
            )
        return self._answer(action, response)

    def _answer(self, action: str, response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            document = _json_or_none(response)
            error = legacy_error(action, document, response.status_code) if document else None
            if error is not None:
                raise error
            raise ProviderError(
                dialect=DIALECT,
                action=action,
                code="ServerNetworkError",
                message=response.text[:200],
                http_status=response.status_code,
                retryable=response.status_code >= 500 or response.status_code == 429,
                rate_limited=response.status_code == 429,
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
        error = legacy_error(action, document)
        if error is not None:
            raise error
        return document

    async def get_task_info(self, task_id: str) -> dict[str, Any]:
        """A task of the last 72 h (`type`, `status`, times, `data`); older or unknown: `not_found`."""
        return await self.call("GetTaskInfo", {"vodTaskId": task_id})

    async def get_procedure_info(self, task_id: str) -> dict[str, Any]:
        """A procedure (task flow) of the last three days, its block flattened into the answer (seed 000)."""
        return await self.call("GetProcedureInfo", {"vodTaskId": task_id})

    async def get_task_list(
        self,
        *,
        status: str | None = None,
        next_cursor: str | None = None,
        size: int | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
    ) -> dict[str, Any]:
        """A page of the task listing (`data.taskList`, cursor `data.next`). The request parameters are not
        documented anywhere found; these follow GetTaskListByFileId's (`status`, `next`, `size`,
        `startTime`/`endTime` unix seconds)."""
        params = {"status": status, "next": next_cursor, "size": size, "startTime": start_time, "endTime": end_time}
        return await self.call("GetTaskList", params)

    async def pull_event(self) -> dict[str, Any]:
        """Queued events (`eventList[{msgHandle, eventContent}]`); a long poll of up to 5 s."""
        return await self.call("PullEvent", {})

    async def confirm_event(self, handles: Sequence[str], *, first_index: int = 0) -> dict[str, Any]:
        """Confirm pulled events as `msgHandle.<n>` (0-based per the API page; the overview's example counts
        from 1, hence `first_index`), within 30 s of the pull."""
        if not handles:
            raise ValueError("confirm_event needs at least one msgHandle")
        return await self.call(
            "ConfirmEvent", {f"msgHandle.{first_index + i}": handle for i, handle in enumerate(handles)}
        )


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        document = response.json()
    except ValueError:
        return None
    return document if isinstance(document, dict) else None
