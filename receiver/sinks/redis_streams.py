"""Redis Streams sink: one XADD per message to one stream, so the stream's order is the delivery order.

Fields: `message` (the JSON message) and every message header (`event-id`, `event-type`, `provider`,
`task-id`, `task-version`, `delivery-id`, …). `maxlen` trims the stream approximately (`MAXLEN ~ n`), the
cheap form: Redis drops whole macro-nodes, so the stream may hold a few more entries than `n`.
A batch goes out as one pipeline (no MULTI): one round trip, replies in order.
A Redis that keeps nothing on disk loses acknowledged entries when it restarts; that is Redis's setting.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT, FieldT

from receiver.sinks.base import Delivery, DeliveryFailed, SendResult, Sink, SinkDown


class RedisStreamSink(Sink):
    def __init__(self, name: str, url: str, stream: str, *, maxlen: int | None, timeout_s: float) -> None:
        super().__init__(name)
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self.timeout_s = timeout_s
        self._client: aioredis.Redis | None = None

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            # no client-side retries: the dispatcher owns retrying, and a down Redis must fail fast
            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                retry=Retry(NoBackoff(), 0),
            )
        return self._client

    async def send(self, batch: Sequence[Delivery]) -> list[SendResult]:
        pipe = self._redis().pipeline(transaction=False)
        for delivery in batch:
            fields: dict[FieldT, EncodableT] = {"message": delivery.body}
            fields.update(delivery.headers)
            if self.maxlen is not None:
                pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
            else:
                pipe.xadd(self.stream, fields)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            await self.close()
            raise SinkDown(f"redis {self.stream}: {type(exc).__name__}: {exc}") from exc
        return [
            DeliveryFailed(f"XADD {self.stream}: {reply}") if isinstance(reply, Exception) else None
            for reply in replies
        ]

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
