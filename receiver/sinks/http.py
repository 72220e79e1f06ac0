"""HTTP webhook sink, signed per the Standard Webhooks spec (https://www.standardwebhooks.com).

Each POST carries the message as its body and:
- `webhook-id`: the event id (the same on every retry and redelivery: the consumer's idempotency key);
- `webhook-timestamp`: unix seconds of this attempt;
- `webhook-signature`: space-separated signatures of `{id}.{timestamp}.{body}`, one per configured key:
  `v1,<base64 HMAC-SHA256>` for a `whsec_<base64 secret>` key, `v1a,<base64 Ed25519>` for a
  `whsk_<base64 private key>` key (the 32-byte seed, or the 64-byte seed‖public form). Several keys sign
  side by side, so a consumer can rotate without a gap.
- `vodhook-<header>` for every message header (event type, provider, task id, version, delivery id).

Answers: 2xx delivered; 429 and 408 retry (after `Retry-After` when given); 5xx and timeouts retry;
any other status (3xx, 4xx) is a refusal that retrying cannot fix: a dead letter. Connection failures of a
whole batch mean the endpoint is down (`SinkDown`).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from receiver.sinks.base import Delivery, DeliveryFailed, SendResult, Sink, SinkDown

_RETRY_STATUSES = frozenset({408, 429})
#: Connections per httpx client. httpcore's pool walks all its connections at every request and every
#: response (polling each socket, and for each idle one counting them all again), so one pool of 32 spends
#: more CPU on bookkeeping than on HTTP; several small pools keep each walk short.
_POOL_SIZE = 4


@dataclass(frozen=True)
class SigningKey:
    """One configured key: an HMAC secret (`v1`) or an Ed25519 private key (`v1a`)."""

    scheme: str
    secret: bytes = b""
    private: Ed25519PrivateKey | None = None

    @classmethod
    def parse(cls, text: str, where: str) -> SigningKey:
        """Read `whsec_…` or `whsk_…`; raise ValueError naming `where` (never the key itself)."""
        for prefix in ("whsec_", "whsk_"):
            if text.startswith(prefix):
                try:
                    raw = base64.b64decode(text[len(prefix) :] + "==", validate=False)
                except ValueError as exc:
                    raise ValueError(f"{where}: not base64 after {prefix!r}") from exc
                if prefix == "whsec_":
                    if not 24 <= len(raw) <= 64:
                        raise ValueError(f"{where}: an HMAC secret is 24 to 64 bytes (got {len(raw)})")
                    return cls("v1", secret=raw)
                if len(raw) not in (32, 64):
                    raise ValueError(f"{where}: an Ed25519 private key is 32 or 64 bytes (got {len(raw)})")
                return cls("v1a", private=Ed25519PrivateKey.from_private_bytes(raw[:32]))
        raise ValueError(f"{where}: a signing key starts with whsec_ (HMAC-SHA256) or whsk_ (Ed25519)")

    def sign(self, content: bytes) -> str:
        if self.private is not None:
            signature = self.private.sign(content)
        else:
            signature = hmac.new(self.secret, content, hashlib.sha256).digest()
        return f"{self.scheme},{base64.b64encode(signature).decode()}"


def sign_headers(keys: Sequence[SigningKey], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one request."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp)}
    if keys:
        headers["webhook-signature"] = " ".join(key.sign(content) for key in keys)
    return headers


class _Unreachable(Exception):
    """This request never got an answer because the connection failed."""


class HttpSink(Sink):
    ordered = True  # the dispatcher sends a task's next message only after this one was acknowledged

    def __init__(self, name: str, url: str, *, keys: Sequence[str], timeout_s: float, concurrency: int) -> None:
        super().__init__(name)
        self.url = url
        self.keys = [SigningKey.parse(key, f"sinks.{name}.keys[{i}]") for i, key in enumerate(keys)]
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self._clients: list[httpx.AsyncClient] = []
        self._slots: asyncio.Queue[httpx.AsyncClient] | None = None

    def _pool(self) -> asyncio.Queue[httpx.AsyncClient]:
        """One slot per request allowed in flight, each naming the client to send it with.

        `concurrency` requests spread over clients of at most `_POOL_SIZE` connections each, kept alive (a
        reconnect costs more than a request). A request holds a slot of its client, so no client ever has
        more requests than connections: none waits for a connection, and `timeout_s` is the request's own.
        """
        if self._slots is None:
            clients = math.ceil(self.concurrency / _POOL_SIZE)
            size = math.ceil(self.concurrency / clients)
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            tls = httpx.create_ssl_context()  # one for all: each loads the system's CAs
            self._clients = [
                httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False, limits=limits, verify=tls)
                for _ in range(clients)
            ]
            self._slots = asyncio.Queue()
            for n in range(self.concurrency):
                self._slots.put_nowait(self._clients[n % clients])
        return self._slots

    async def send(self, batch: Sequence[Delivery]) -> list[SendResult]:
        outcomes = await asyncio.gather(*(self._post(delivery) for delivery in batch), return_exceptions=True)
        results: list[SendResult] = []
        unreachable = 0
        for outcome in outcomes:
            if isinstance(outcome, _Unreachable):
                unreachable += 1
                results.append(DeliveryFailed(str(outcome)))
            elif isinstance(outcome, DeliveryFailed) or outcome is None:
                results.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        if batch and unreachable == len(batch):
            raise SinkDown(str(outcomes[0]))
        return results

    async def _post(self, delivery: Delivery) -> SendResult:
        body = delivery.body
        headers = {"content-type": "application/json", "user-agent": "vodhook"}
        headers.update({f"vodhook-{name}": value for name, value in delivery.headers.items()})
        headers.update(sign_headers(self.keys, delivery.event_id, int(time.time()), body))
        slots = self._pool()
        client = await slots.get()
        try:
            response = await client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            return DeliveryFailed(f"timed out after {self.timeout_s:g} s ({type(exc).__name__})")
        except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            raise _Unreachable(f"{self.url}: {type(exc).__name__}: {exc}") from exc
        finally:
            slots.put_nowait(client)
        status = response.status_code
        if 200 <= status < 300:
            return None
        reason = f"HTTP {status} from {self.url}: {response.text[:200]!r}"
        if status in _RETRY_STATUSES or status >= 500:
            return DeliveryFailed(reason, retry_after_s=retry_after_s(response.headers.get("retry-after")))
        return DeliveryFailed(reason, permanent=True)

    async def close(self) -> None:
        clients, self._clients, self._slots = self._clients, [], None
        for client in clients:
            await client.aclose()


def retry_after_s(value: str | None) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
