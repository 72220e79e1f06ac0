"""Batched status checks: when several tasks of a source come due at once, one listing request says which of
them are still running, and only the others get a task query.

A task query (GetTaskInfo, DescribeTaskDetail, GetTranscodeTask) answers for one task; a page of the
provider's listing filtered to the tasks still processing (legacy GetTaskList, VOD 3.0 and MPS DescribeTasks,
Alibaba GetVideoList `Status=Transcoding`: `ProviderApi.list_running`) answers for up to 100. A due task the
listing shows still running is asked again when its age has doubled (`pacing`), as if a task query had said
so. Every other due task is queried as before: one the listing shows finished (only the task query carries
its outputs), and one it does not show at all (outside its creation window or retention, on a page not
fetched, waiting rather than processing, an entry that does not say). So a listing can only spare task
queries, never lose a task or its outputs: the worst it does is cost one request. (A task a held callback
waits on, of a confirming source, is queried whatever the listing shows: only a task query judges it.)

When it is worth it. A listing costs one request, paid from the account's bucket like a task query, and
spares one query per due task it shows running. With a single due task it can at best break even, so never
below `MIN_DUE` = 2. Above that the count alone does not decide, the share still running does: after an
outage most overdue tasks are finished (their callbacks were lost), and a listing per batch would be pure
overhead. So each source keeps the share of its recent checks that found the task still running
(`RunningShare`: listings and task queries alike), and lists when the due tasks times that share exceed
`MIN_SPARED` = 1: when the listing is expected to spare more task queries than the one request it costs.
So the requests made do not grow on average, and the task queries (the scarcer budget: a listing answers
for up to 100 tasks) shrink. A source nothing is known of yet (share 1/2) lists three due tasks, not two.
A next page is fetched only while the listing has paid for itself so far (it showed more due tasks running
than pages it took).

A listing that fails other than by a rate-limit answer (which pauses the bucket and ends the pass, as for a
task query) leaves its batch to task queries, and the source to task queries alone for `RETRY_AFTER_S`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from receiver.clock import Clock
from receiver.store.base import TrackedTask

if TYPE_CHECKING:
    from receiver.fallback.runtime import SourceRuntime, Stats

MIN_DUE = 2  # due tasks of one source below which a task query is never dearer than a listing
MIN_SPARED = 1.0  # task queries a listing must be expected to spare more than, to be made: the one it costs
MAX_PAGES = 5  # listing pages per batch
RETRY_AFTER_S = 300.0  # after a failed listing, the source's due tasks get task queries only, this long
PRIOR_SHARE = 0.5  # the running share a source starts with: nothing known yet, either way
SHARE_WEIGHT = 0.1  # weight of the latest check in the running share (about the last 10 checks count)


class RunningShare:
    """The share of a source's recent checks that found the task still running (an exponentially weighted
    average, from `PRIOR_SHARE`)."""

    def __init__(self, prior: float = PRIOR_SHARE, weight: float = SHARE_WEIGHT) -> None:
        if not 0.0 <= prior <= 1.0:
            raise ValueError(f"prior must be within 0..1 (got {prior!r})")
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"weight must be within (0, 1] (got {weight!r})")
        self.value = prior
        self.weight = weight

    def note(self, running: bool) -> None:
        self.value += self.weight * ((1.0 if running else 0.0) - self.value)


def worth_listing(due: int, share: float) -> bool:
    """Whether a listing is expected to spare more than `MIN_SPARED` task queries among `due` tasks (above)."""
    return due >= MIN_DUE and due * share > MIN_SPARED


def creation_window(tasks: Sequence[TrackedTask], now: datetime, retention_s: float) -> tuple[datetime, datetime]:
    """[since, until) around the tasks' creation times, in whole seconds (the listings' resolution), and no
    older than the provider keeps tasks. A task whose creation is not known does not widen it (the listing
    may still show it); when none is known, the whole retention window."""
    oldest = now - timedelta(seconds=retention_s)
    known = [task.created_at for task in tasks if task.created_at is not None]
    if not known:
        return oldest.replace(microsecond=0), now.replace(microsecond=0) + timedelta(seconds=1)
    since = max(min(known), oldest).replace(microsecond=0)
    until = max(max(known), since).replace(microsecond=0) + timedelta(seconds=1)
    return since, until


@dataclass(frozen=True)
class Listed:
    """What a status listing showed: which of the due tasks were running, as of `at` (its first request)."""

    at: datetime
    running: frozenset[str]


async def running_among(runtime: SourceRuntime, tasks: Sequence[TrackedTask], stats: Stats, clock: Clock) -> Listed:
    """Which of `tasks` (due, of `runtime`'s source) the listing shows still running. Every page is paid from
    the source's bucket and counted as a query. A provider's error answer raises ProviderError: the caller
    queries the tasks one by one instead."""
    since, until = creation_window(tasks, clock.now(), runtime.api.retention_s)
    wanted = {task.task_id for task in tasks}
    shown: set[str] = set()
    token: str | None = None
    at: datetime | None = None
    for pages in range(1, MAX_PAGES + 1):
        await runtime.bucket.acquire()
        at = at or clock.now()
        stats.queries += 1
        stats.listings += 1
        page = await runtime.api.list_running(since, until, token)
        shown |= {listed.task_id for listed in page.tasks if listed.finished is False and listed.task_id in wanted}
        if page.next_token is None or len(shown) <= pages or shown == wanted:
            break
        token = page.next_token
    assert at is not None
    return Listed(at, frozenset(shown))
