"""When to ask a provider again about a task its last answer showed still running.

The first query goes out at the task's deadline. When the answer says the task is still running, the wait
before the next one grows with the task's *age* (since its creation, or since we first saw it), not with the
number of queries made: knowing nothing else about a task that has run for `age`, it is as likely to need more
than another `age` as less (the median of its total duration is twice its age: the "delta t" argument behind
age-proportional polling). So the next query goes out when its age has doubled: a task that runs k times past
its deadline costs about 1 + log2(k) queries, whatever the deadline, and its result is at most `age` late.

The wait doubling from `backoff_base_s` per query, as before, ignored the age: a task found running at its
5 s deadline was asked again 1, 2 and 4 s later, three or four queries before it finished at 8 s; with the
production defaults (deadline 900 s, base 30 s) a task running to 30 min cost six.

The wait never drops below `backoff_base_s` (a task just created, or a creation time from a clock that
disagrees with ours) and never exceeds `backoff_max_s`, the bound on how late a long task's result comes in.
Errors and "not found" answers say nothing about the task's progress: they keep the doubling backoff.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from receiver.store.base import TrackedTask

GROWTH = 2.0  # the next query when the task's age has grown this many times


def task_age_s(task: TrackedTask, now: datetime) -> float:
    """Seconds since the provider created the task (or since we started tracking it, when unknown)."""
    return (now - (task.created_at or task.tracked_at)).total_seconds()


def recheck_wait(age_s: float, base_s: float, max_s: float) -> timedelta:
    """The wait before the next query of a task still running at `age_s`: (GROWTH - 1) x age, within
    [base_s, max_s]."""
    return timedelta(seconds=min(max_s, max(base_s, (GROWTH - 1.0) * age_s)))
