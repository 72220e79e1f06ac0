"""Discovery: walk the provider's task listing and track the tasks the receiver never heard of.

A task whose every callback was lost leaves no trace here, so only the provider's listing can reveal it.
The position in the listing is a cursor in the store (`sweep:<source>`), saved after every page, so a sweep
cut short resumes where it stopped, and the next sweep starts where the last one ended.
"""

from __future__ import annotations

from receiver.fallback.runtime import SourceRuntime, Stats
from receiver.fallback.tracking import Tracker
from receiver.model import Status
from receiver.store.base import Store

MAX_PAGES = 100  # per sweep; the cursor carries on from there next time


async def sweep_source(runtime: SourceRuntime, store: Store, tracker: Tracker, stats: Stats) -> int:
    """One sweep of one source's listing; returns how many tasks became tracked."""
    key = f"sweep:{runtime.name}"
    token = await store.get_cursor(key)
    added = 0
    for _ in range(MAX_PAGES):
        await runtime.bucket.acquire()
        stats.queries += 1
        page = await runtime.api.list_page(token)
        fresh = []
        for listed in page.tasks:
            known = await store.get_task(runtime.api.provider.value, listed.task_id)
            if known is not None and (known.status is Status.FINISHED or known.source in tracker.settings.sources):
                continue  # finished, or already tracked from its events
            fresh.append(
                tracker.new(
                    runtime.api.provider.value, listed.task_id, runtime.name, via="sweep", created_at=listed.created_at
                )
            )
        added += await store.track_tasks(fresh)
        if page.next_token is None:
            await store.set_cursor(key, runtime.api.resume_token(token, page))
            break
        token = page.next_token
        await store.set_cursor(key, token)
    stats.discovered += added
    return added
