"""Reliable-callback (pull) mode as an ingest path: pull, capture durably, normalize, and only then confirm.

The whole PullEvent(s) answer is captured (origin=pull) and applied before ConfirmEvent(s) goes out, so an
event is never confirmed before it is stored; a receiver stopped in between leaves it unconfirmed, and the
provider hands it out again (after 30 s), where the event id deduplicates it.
"""

from __future__ import annotations

from receiver.fallback.runtime import SourceRuntime, Stats
from receiver.ingest import Pipeline
from receiver.model import Origin


async def pull_once(runtime: SourceRuntime, pipeline: Pipeline, stats: Stats) -> int:
    """Pull one batch, store it, confirm it; returns how many events were confirmed."""
    answer, items = await runtime.api.pull()
    if not items:
        return 0
    await pipeline.ingest_document(runtime.name, answer.document, answer.body, Origin.PULL, api=answer.api)
    await runtime.api.confirm([item.handle for item in items])
    stats.pulled += len(items)
    return len(items)
