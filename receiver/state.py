"""Task state merging: forward only.

The rules, applied by `merge` to a task's current state and one new event:

1. Status only moves forward: waiting → processing → finished. An event of a lower rank than the task is
   *stale*: it is stored and shown in the task's timeline, but changes nothing.
2. At a higher rank the event wins: its status, outcome, error and times replace the task's, and its outputs
   merge in.
3. At the same rank the event's outputs merge in (by `Output.key`, which each dialect defines: legacy VOD
   sub-tasks have no ids, so their key is task type, definition and position). An output never moves back
   either: a late PROCESSING report of a sub-task that already succeeded is ignored.
4. Two finished reports that disagree on the outcome: the later *provider* time wins (`Event.provider_time`,
   falling back to when we received it); at equal time a fresh query answer (origin=poll) wins over a
   callback. Otherwise the older report is stale.
5. Only a *material* change makes a new version: status, outcome, error code, media id, task kind, and each
   output's identity, status, outcome and location. A poll repeating a callback's transition in other words
   (another `provider_status`, extra times) is the same transition (`Effect.SAME_TRANSITION`): nothing
   changes, so the sinks see it once. When a material change happens, the other fields fill in too.
6. Events with a status of None (unknown event types) are informational: attached, nothing changes.

Confirmation (a source with `confirm`, for users who cannot trust an unsigned body): a callback that would
finish its task (rule 2 or 4 says it wins) is *held* (`holds`): stored, changing nothing, until a report we
can trust about the same task (a query answer, origin=poll, or a pulled event) is applied. `judge_held` then
compares what the callback claimed with the task's state after that report. Providers update their task API
about when, or a little after, they call back, so an answer that the task is not finished yet refutes a
callback only once the source's grace (`confirm_grace_s`) has passed since the callback arrived.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from receiver.model import Event, Origin, Outcome, Output, Status, Task, assemble_task
from receiver.store.base import Confirmation, Effect

_FILLED_FIELDS = ("created_at", "started_at", "updated_at", "session", "provider_status")
_OUTPUT_MATERIAL = ("kind", "status", "outcome", "url", "urls", "storage", "error")


def merge(current: Task | None, event: Event, now: datetime) -> tuple[Task | None, Effect]:
    """Return the task's new state (None when the event has no task) and what the event did."""
    task_key = event.task_key
    if task_key is None:
        return current, Effect.NO_TASK
    if event.status is None:
        return current, Effect.INFO
    if current is None:
        return _new_task(task_key, event, now), Effect.APPLIED

    if event.status.rank < current.status.rank:
        return current, Effect.STALE
    disagreeing_terminal = (
        event.status is Status.FINISHED and current.status is Status.FINISHED and event.outcome != current.outcome
    )
    if disagreeing_terminal and not _terminal_report_wins(current, event):
        return current, Effect.STALE
    candidate = _advance(current, event, now)

    if _material(candidate) == _material(current):
        return current, Effect.SAME_TRANSITION
    return candidate.model_copy(update={"version": current.version + 1}), Effect.APPLIED


def _terminal_report_wins(current: Task, event: Event) -> bool:
    event_time = event.provider_time or event.received_at
    task_time = current.provider_time or current.changed_at
    if event_time != task_time:
        return event_time > task_time
    return event.origin is Origin.POLL and current.last_origin is not Origin.POLL


def _new_task(task_key: str, event: Event, now: datetime) -> Task:
    """A task's first state, from its first event. Built without validation (`assemble_task`): every value is
    an event's field of the task field's own type, and validating them again cost as much as storing the task.
    tests/test_state.py checks that validation would make the same task from every fixture."""
    assert event.status is not None
    return assemble_task(
        {
            "provider": event.provider,
            "task_id": task_key,
            "source": event.source,
            "dialect": event.dialect,
            "task_kind": event.task_kind,
            "media_id": event.media_id,
            "status": event.status,
            "outcome": event.outcome,
            "provider_status": event.provider_status,
            "error": event.error,
            "created_at": event.created_at,
            "started_at": event.started_at,
            "updated_at": event.updated_at,
            "finished_at": event.finished_at if event.status is Status.FINISHED else None,
            "outputs": _merge_outputs([], event.outputs),
            "session": event.session,
            "version": 1,
            "last_event_id": event.event_id,
            "last_origin": event.origin,
            "provider_time": event.provider_time or event.received_at,
            "first_seen_at": now,
            "changed_at": now,
        }
    )


def _advance(current: Task, event: Event, now: datetime) -> Task:
    assert event.status is not None
    update: dict[str, Any] = {
        "status": event.status,
        "outcome": event.outcome if event.status is Status.FINISHED else current.outcome,
        "error": event.error if event.status is Status.FINISHED or event.error else current.error,
        "task_kind": current.task_kind or event.task_kind,
        "media_id": current.media_id or event.media_id,
        "outputs": _merge_outputs(current.outputs, event.outputs),
        "last_event_id": event.event_id,
        "last_origin": event.origin,
        "provider_time": max(
            filter(None, (current.provider_time, event.provider_time or event.received_at)),
        ),
        "changed_at": now,
    }
    if event.status is Status.FINISHED:
        update["finished_at"] = event.finished_at or current.finished_at
    for name in _FILLED_FIELDS:
        value = getattr(event, name)
        if value is not None:
            update[name] = value
    return current.model_copy(update=update)


def _merge_outputs(existing: list[Output], incoming: list[Output]) -> list[Output]:
    """Merge by key, keeping order of first appearance; an output's status never moves back."""
    merged = {output.key: output for output in existing}
    for output in incoming:
        known = merged.get(output.key)
        if known is not None and known.status and output.status and output.status.rank < known.status.rank:
            continue
        merged[output.key] = output
    return list(merged.values())


def _material(task: Task) -> tuple[Any, ...]:
    outputs = tuple(
        (output.key, *(_frozen(getattr(output, name)) for name in _OUTPUT_MATERIAL)) for output in task.outputs
    )
    error_code = task.error.code if task.error else None
    return (task.status, task.outcome, error_code, task.media_id, task.task_kind, outputs)


def _frozen(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(value)
    if hasattr(value, "model_dump"):
        return tuple(sorted(value.model_dump().items()))
    return value


# confirmation --------------------------------------------------------------------------------------------

#: Origins whose reports can settle a held callback: our own query of the provider, and its reliable queue.
TRUSTED_REPORTS = frozenset({Origin.POLL, Origin.PULL})


def holds(event: Event, effect: Effect) -> bool:
    """Whether a holding result keeps `event` back: it would make its task finished (or finish it anew, with
    another outcome). A terminal callback that repeats what the task already holds changes nothing and
    forwards nothing, so there is nothing to hold; an event with no task id (a media event) names nothing
    the provider's task query could confirm, so it passes as before."""
    return effect is Effect.APPLIED and event.status is Status.FINISHED and event.task_id is not None


def judge_held(held: Event, task: Task | None, report: Event, grace_s: float = 0.0) -> tuple[Effect, str | None]:
    """What a trusted `report` (see `TRUSTED_REPORTS`) makes of a `held` callback of the same task, `task`
    being the task's state with the report applied: (effect, reason).

    CONFIRMED when the task is finished with the outcome the callback claimed. Only a query answer can refute
    it (UNCONFIRMED, with the reason), and only one asked for after the callback arrived (a query answer's
    `received_at` is when we asked): an answer to an earlier question may predate the finish, and a pulled
    event may be an older one still in the queue. Such an answer refutes it at once when the task is finished
    with another outcome (a contradiction); when the task is not finished, only once it was asked `grace_s` or
    more after the callback arrived (`lagging`): the provider's task API may not have caught up with its own
    callback yet. Anything else leaves it HELD.
    """
    if task is not None and task.status is Status.FINISHED and task.outcome == held.outcome:
        return Effect.CONFIRMED, None
    if report.origin is not Origin.POLL or held.received_at > report.received_at:
        return Effect.HELD, None
    said = _described(task, report)
    if _finished(task, report):
        return Effect.UNCONFIRMED, unconfirmed_reason(held, said)
    if lagging(held, report.received_at, grace_s):
        return Effect.HELD, None
    return Effect.UNCONFIRMED, unconfirmed_reason(held, said, grace_s)


def judge_unanswered(held: Event, asked_at: datetime, said: str, grace_s: float = 0.0) -> tuple[Effect, str | None]:
    """What an answer that brought no event (e.g. "not found", asked at `asked_at`) makes of a `held` callback:
    HELD when it arrived after the question, or the provider may still be catching up (`lagging`); else
    UNCONFIRMED with the reason. A task the provider does not know is no contradiction: a new task may not be
    indexed yet."""
    if held.received_at > asked_at or lagging(held, asked_at, grace_s):
        return Effect.HELD, None
    return Effect.UNCONFIRMED, unconfirmed_reason(held, said, grace_s)


def lagging(held: Event, asked_at: datetime, grace_s: float) -> bool:
    """Whether an answer asked at `asked_at` that says the task of the `held` callback is not finished may just
    lag behind the callback: it was asked less than `grace_s` after the callback arrived."""
    return asked_at - held.received_at < timedelta(seconds=grace_s)


def grace_ends(held: Event, grace_s: float) -> datetime:
    """From when an answer that the `held` callback's task is not finished refutes it (see `lagging`)."""
    return held.received_at + timedelta(seconds=grace_s)


def judge_all(
    held: Sequence[tuple[Event, int | None]],
    reapplied: Sequence[tuple[Event, int | None]],
    task: Task | None,
    report: Event,
    grace_s: float = 0.0,
) -> tuple[list[Confirmation], int]:
    """Judge a task's held callbacks (event, capture id) after `report` (`judge_held`, with the asking source's
    `grace_s`); return the verdicts and how many stay held. `reapplied` are events of the report that were held
    with the very same content (same `event_id`): the report merged them itself, so they can only be
    confirmed."""
    verdicts: list[Confirmation] = []
    for event, capture_id in reapplied:
        same_task = event.provider is report.provider and event.task_key == report.task_key
        if same_task and judge_held(event, task, report, grace_s)[0] is Effect.CONFIRMED:
            verdicts.append(Confirmation(event.event_id, capture_id, Effect.CONFIRMED))
    still_held = 0
    for event, capture_id in held:
        effect, reason = judge_held(event, task, report, grace_s)
        if effect is Effect.HELD:
            still_held += 1
        else:
            verdicts.append(Confirmation(event.event_id, capture_id, effect, reason))
    return verdicts, still_held


def unconfirmed_reason(held: Event, said: str, grace_s: float = 0.0) -> str:
    """The refusal reason of a held callback the provider did not confirm: the task, the claim, the answer (and,
    for an answer refused after the grace `grace_s`, that it still said so that long after the callback)."""
    claimed = _status_text(held.status, held.outcome, held.provider_status)
    answer = f"still says {said} {grace_s:g} s after the callback" if grace_s > 0 else f"says {said}"
    return (
        f"not confirmed by the provider: task {held.task_key} ({held.provider.value}): the callback says"
        f" {claimed}, the provider {answer}"
    )


def _described(task: Task | None, report: Event) -> str:
    if task is None:
        return _status_text(report.status, report.outcome, report.provider_status)
    return _status_text(task.status, task.outcome, task.provider_status)


def _finished(task: Task | None, report: Event) -> bool:
    status = task.status if task is not None else report.status
    return status is Status.FINISHED


def _status_text(status: Status | None, outcome: Outcome | None, provider_status: str | None) -> str:
    text = status.value if status else "no status"
    if outcome is not None:
        text += f"/{outcome.value}"
    if provider_status:
        text += f" ({provider_status})"
    return text
