"""Discovery: walk the provider's task listing and track the tasks the receiver never heard of.

A task whose every callback was lost leaves no trace here, so only the provider's listing can reveal it.
The position in the listing is a cursor in the store (`sweep:<source>`), saved after every page, so a sweep
cut short resumes where it stopped, and the next sweep starts where the last one ended (for the listings
that filter by creation time, at the newest creation it listed). The first sweep looks back
`fallback.sweep_lookback_s`; `since` (`vodhook reconcile --since`) starts there instead of at the cursor.
Every request, a page or a container's own listing (an Alibaba video's ListTranscodeTask), is paid from
the account's bucket and counted as a query.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from receiver.fallback.providers import ListedTask
from receiver.fallback.runtime import SourceRuntime, Stats
from receiver.fallback.tracking import Tracker
from receiver.model import Status
from receiver.store.base import Store, TrackedTask

MAX_PAGES = 100  # per sweep; the cursor carries on from there next time


async def sweep_source(
    runtime: SourceRuntime, store: Store, tracker: Tracker, stats: Stats, *, since: datetime | None = None
) -> int:
    """One sweep of one source's listing; returns how many tasks became tracked."""
    key = f"sweep:{runtime.name}"
    if since is not None:
        token = runtime.api.start_token(since)
    else:
        token = await store.get_cursor(key)
        if token is None:
            lookback = timedelta(seconds=tracker.settings.sweep_lookback_s)
            token = runtime.api.start_token(tracker.clock.now() - lookback)
    added = 0
    newest: datetime | None = None
    for _ in range(MAX_PAGES):
        await runtime.bucket.acquire()
        stats.queries += 1
        page = await runtime.api.list_page(token)
        fresh: list[TrackedTask] = []
        try:
            for listed in page.tasks:
                if listed.created_at is not None and (newest is None or listed.created_at > newest):
                    newest = listed.created_at
                if await _known(runtime, store, listed):
                    continue
                if listed.parent is None:
                    fresh.append(_new(runtime, tracker, listed))
                    continue
                await runtime.bucket.acquire()
                stats.queries += 1
                children = await runtime.api.list_children(listed.parent)
                fresh += [_new(runtime, tracker, c) for c in children if not await _known(runtime, store, c)]
        except Exception:
            # Keep what the page gave so far: a sweep cut short (by a rate-limit answer, say) must not lose it,
            # or every next sweep would spend the same requests again, and be cut short again.
            stats.discovered += added + await store.track_tasks(fresh)
            raise
        added += await store.track_tasks(fresh)
        if page.next_token is None:
            await store.set_cursor(key, runtime.api.resume_token(token, page, newest))
            break
        token = page.next_token
        await store.set_cursor(key, token)
    stats.discovered += added
    return added


def _new(runtime: SourceRuntime, tracker: Tracker, listed: ListedTask) -> TrackedTask:
    return tracker.new(
        runtime.api.provider.value, listed.task_id, runtime.name, via="sweep", created_at=listed.created_at
    )


async def _known(runtime: SourceRuntime, store: Store, listed: ListedTask) -> bool:
    """Finished, or tracked already (from its events, a registration or an earlier sweep): nothing to add."""
    provider = runtime.api.provider.value
    task = await store.get_task(provider, listed.task_id)
    if task is not None and task.status is Status.FINISHED:
        return True
    return await store.get_tracked(provider, listed.task_id) is not None
