"""What the providers' query clients share: the typed error they raise and the HTTP plumbing under them.

The clients themselves live with their dialects (`receiver/dialects/<dialect>/client.py`); each signs with one
scheme from this package and turns its provider's error answers into `ProviderError`, classified so the
fallback can decide without knowing any provider's codes: `not_found` (unknown or expired: the task is
lost), `rate_limited` (back off), `auth_failed` (configuration: stop and say so), `retryable` (try again).
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from receiver.clock import Clock, SystemClock
from receiver.signing import tc3
from receiver.signing._common import Credential

DEFAULT_TIMEOUT_S = 10.0


class ProviderError(Exception):
    """A provider's error answer (or no usable answer at all), classified for the caller."""

    def __init__(
        self,
        *,
        dialect: str,
        action: str,
        code: str,
        message: str,
        request_id: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        not_found: bool = False,
        rate_limited: bool = False,
        auth_failed: bool = False,
    ) -> None:
        self.dialect = dialect
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        self.retryable = retryable
        self.not_found = not_found
        self.rate_limited = rate_limited
        self.auth_failed = auth_failed
        status = f" (HTTP {http_status})" if http_status is not None else ""
        rid = f" [RequestId {request_id}]" if request_id else ""
        super().__init__(f"{dialect} {action}: {code}: {message}{status}{rid}")


def random_nonce() -> int:
    """A positive random integer, as the Tencent SDKs draw their `Nonce`."""
    return secrets.randbelow(sys.maxsize) + 1


def random_hex_nonce() -> str:
    """32 random hex characters, the shape of the Alibaba SDKs' `SignatureNonce`."""
    return uuid.uuid4().hex


class QueryTransport:
    """One provider endpoint: the base URL (overridable, e.g. to point at the emulator), the `host[:port]`
    the signatures bind, and an httpx client (given, to share a pool or an ASGI transport, or owned)."""

    def __init__(
        self,
        endpoint: str,
        *,
        dialect: str,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Clock | None = None,
    ) -> None:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"endpoint {endpoint!r} is not http(s)://host[:port]")
        self.dialect = dialect
        self.base_url = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self.timeout_s = timeout_s
        self.clock: Clock = clock or SystemClock()
        self._http = http
        self._owns_http = http is None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout_s, trust_env=False)
        return self._http

    def now_s(self) -> int:
        return int(self.clock.now().timestamp())

    async def send(
        self,
        action: str,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
    ) -> httpx.Response:
        """Send one request; a transport failure becomes a retryable `ProviderError`."""
        url = f"{self.base_url}{path}" + (f"?{query}" if query else "")
        sent_headers = {"Host": self.host, **(headers or {})}
        try:
            return await self.http.request(
                method, url, headers=sent_headers, content=content or None, timeout=self.timeout_s
            )
        except httpx.HTTPError as exc:
            raise ProviderError(
                dialect=self.dialect,
                action=action,
                code="ClientNetworkError",
                message=f"{type(exc).__name__}: {exc}",
                retryable=True,
            ) from exc

    def decode(self, action: str, response: httpx.Response) -> Any:
        """The JSON document of an answer, or a retryable `ProviderError` naming what came back instead."""
        try:
            return json.loads(response.content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            shown = response.content[:120].decode("utf-8", "replace")
            raise ProviderError(
                dialect=self.dialect,
                action=action,
                code="InvalidResponse",
                message=f"answer is not JSON ({exc}): {shown!r}",
                http_status=response.status_code,
                retryable=True,
            ) from exc

    async def aclose(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None


class QueryClient:
    """Base of the dialect query clients: an async context manager over a `QueryTransport`."""

    transport: QueryTransport

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.transport.aclose()


# ------------------------------------------------------------------------------------ Tencent API 3.0


def tc3_error(dialect: str, action: str, code: str, message: str, request_id: str | None) -> ProviderError:
    """Classify an API 3.0 `Response.Error` by its code family."""
    not_found = code.startswith("ResourceNotFound") or code == "InvalidParameterValue.TaskId"
    rate_limited = code.startswith("RequestLimitExceeded")
    auth_failed = code.startswith(("AuthFailure", "UnauthorizedOperation"))
    retryable = rate_limited or code.startswith(("InternalError", "ServiceUnavailable", "ResourceUnavailable"))
    return ProviderError(
        dialect=dialect,
        action=action,
        code=code,
        message=message,
        request_id=request_id,
        http_status=200,
        retryable=retryable,
        not_found=not_found,
        rate_limited=rate_limited,
        auth_failed=auth_failed,
    )


class Tc3ApiClient(QueryClient):
    """An API 3.0 service (`vod` 2018-07-17, `mps` 2019-06-12) called the way the Python SDK calls it:
    `POST /` with a JSON body (`json.dumps` of the parameters) and TC3 headers; the answer is the whole
    `{"Response": {…}}` document, or a `ProviderError` for `Response.Error` and non-200 answers."""

    dialect: str = ""
    service: str = ""
    version: str = ""
    default_endpoint: str = ""

    def __init__(
        self,
        credential: Credential,
        *,
        endpoint: str | None = None,
        region: str | None = None,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Clock | None = None,
        language: str | None = None,
    ) -> None:
        self.credential = credential
        self.region = region
        self.language = language
        self.transport = QueryTransport(
            endpoint or self.default_endpoint, dialect=self.dialect, http=http, timeout_s=timeout_s, clock=clock
        )

    async def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        body = tc3.json_body({k: v for k, v in params.items() if v is not None})
        call = tc3.Tc3Call(
            service=self.service,
            host=self.transport.host,
            action=action,
            version=self.version,
            timestamp=self.transport.now_s(),
            payload=body,
            region=self.region,
            language=self.language,
        )
        headers = tc3.sign_request(call, self.credential)
        response = await self.transport.send(action, "POST", "/", headers=headers, content=body)
        if response.status_code != 200:
            raise ProviderError(
                dialect=self.dialect,
                action=action,
                code="ServerNetworkError",
                message=response.text[:200],
                http_status=response.status_code,
                retryable=response.status_code >= 500 or response.status_code == 429,
                rate_limited=response.status_code == 429,
            )
        document = self.transport.decode(action, response)
        inner = document.get("Response") if isinstance(document, dict) else None
        if not isinstance(inner, dict):
            raise ProviderError(
                dialect=self.dialect,
                action=action,
                code="InvalidResponse",
                message=f"answer has no Response object: {response.text[:120]!r}",
                http_status=response.status_code,
                retryable=True,
            )
        error = inner.get("Error")
        if isinstance(error, dict):
            request_id = inner.get("RequestId")
            raise tc3_error(
                self.dialect,
                action,
                str(error.get("Code") or "UnknownError"),
                str(error.get("Message") or ""),
                str(request_id) if request_id is not None else None,
            )
        answer: dict[str, Any] = document
        return answer
