"""The sink contract: what a destination (webhook, stream, queue, file) must do for the outbox dispatcher.

A sink only moves bytes. Retries, backoff, dead letters and order per task belong to the dispatcher
(receiver/outbox.py), which calls `send` with a batch holding at most one message per task; the next
message of a task is sent only after `send` reported the previous one delivered. A sink therefore may send
a batch's messages concurrently, and keeps order per task as long as it publishes them on a channel that
the broker orders (one stream, a subject or routing key per task).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from receiver.messages import message_headers
from receiver.store.base import OutboxMessage


class SinkDown(Exception):
    """The sink cannot be reached at all (connection refused or lost): nothing of the batch counts as tried.

    The dispatcher releases the batch without counting an attempt and pauses the whole sink, so a broker
    outage does not burn through the messages' attempts; only their age can dead-letter them meanwhile.
    """


class DeliveryFailed(Exception):
    """One message was not accepted. `permanent`: retrying cannot help (dead-letter it now)."""

    def __init__(self, reason: str, *, permanent: bool = False, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after_s = retry_after_s


#: What `send` says about each message of a batch: None when delivered.
SendResult = DeliveryFailed | None


@dataclass(frozen=True)
class Delivery:
    """One message ready to send: the body encoded once, and the headers every sink attaches."""

    outbox: OutboxMessage
    body: bytes
    headers: dict[str, str]

    @classmethod
    def of(cls, outbox: OutboxMessage) -> Delivery:
        body = json.dumps(outbox.message, ensure_ascii=False, separators=(",", ":")).encode()
        headers = message_headers(outbox.message)
        headers["delivery-id"] = outbox.delivery_id
        headers["delivery-attempt"] = str(outbox.attempts + 1)
        if outbox.redelivery:
            headers["redelivery"] = "true"
        return cls(outbox=outbox, body=body, headers=headers)

    @property
    def event_id(self) -> str:
        return self.outbox.event_id

    @property
    def order_key(self) -> str:
        """What a broker orders by: the task id, or the event id for an event that has no task."""
        return self.outbox.task_key or self.outbox.event_id


class Sink(ABC):
    """One destination. Connects lazily in `send`, and again after a loss: the dispatcher never has to."""

    #: Whether the destination keeps the order of messages with the same `order_key` (for the docs/CLI).
    ordered: bool = True

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    async def send(self, batch: Sequence[Delivery]) -> list[SendResult]:
        """Deliver each message durably; return one result per message, in the batch's order.

        Raise `SinkDown` when the destination cannot be reached at all (then nothing was delivered, as far
        as we know: an unconfirmed message is sent again, which at-least-once allows).
        """

    @abstractmethod
    async def close(self) -> None:
        """Close connections and files; `send` may reopen them later."""
