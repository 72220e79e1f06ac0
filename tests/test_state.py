"""The forward-only merge rules of receiver/state.py, one rule per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from receiver.model import Event, Origin, Outcome, Output, OutputKind, Provider, Status
from receiver.state import judge_all, judge_held, judge_unanswered, merge
from receiver.store.base import Effect

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(status: Status | None, outcome: Outcome | None = None, **fields: Any) -> Event:
    base: dict[str, Any] = {
        "provider": Provider.TENCENT_VOD,
        "dialect": "tencent-vod-v2",
        "source": "s",
        "origin": Origin.CALLBACK,
        "event_type": "ProcedureStateChanged",
        "task_id": "task-1",
        "status": status,
        "outcome": outcome,
        "received_at": T0,
    }
    base.update(fields)
    return Event.build(**base)


def output(key: str, status: Status, outcome: Outcome | None = None, url: str | None = None) -> Output:
    return Output(key=key, kind=OutputKind.VIDEO, status=status, outcome=outcome, url=url)


def test_the_first_event_creates_the_task_at_version_one() -> None:
    task, effect = merge(None, event(Status.PROCESSING), T0)
    assert effect is Effect.APPLIED
    assert task is not None and task.version == 1 and task.status is Status.PROCESSING


def test_status_never_moves_back() -> None:
    task, _ = merge(None, event(Status.FINISHED, Outcome.SUCCESS), T0)
    after, effect = merge(task, event(Status.PROCESSING), T0)
    assert effect is Effect.STALE
    assert after == task


def test_a_higher_rank_wins_and_bumps_the_version() -> None:
    task, _ = merge(None, event(Status.WAITING), T0)
    after, effect = merge(task, event(Status.FINISHED, Outcome.FAILED, finished_at=T0), T0)
    assert effect is Effect.APPLIED
    assert after is not None and after.version == 2
    assert after.status is Status.FINISHED and after.outcome is Outcome.FAILED and after.finished_at == T0


def test_outputs_merge_by_key_and_never_move_back() -> None:
    first = event(Status.PROCESSING, outputs=[output("Transcode:20#0", Status.FINISHED, Outcome.SUCCESS, "u20")])
    task, _ = merge(None, first, T0)
    late = event(
        Status.PROCESSING,
        outputs=[output("Transcode:20#0", Status.PROCESSING), output("Transcode:30#0", Status.PROCESSING)],
    )
    after, effect = merge(task, late, T0)
    assert effect is Effect.APPLIED  # the new output is a material change
    assert after is not None
    by_key = {o.key: o for o in after.outputs}
    assert by_key["Transcode:20#0"].status is Status.FINISHED and by_key["Transcode:20#0"].url == "u20"
    assert by_key["Transcode:30#0"].status is Status.PROCESSING


def test_the_same_transition_in_other_words_changes_nothing() -> None:
    task, _ = merge(None, event(Status.FINISHED, Outcome.SUCCESS, provider_status="FINISH"), T0)
    poll = event(
        Status.FINISHED, Outcome.SUCCESS, provider_status="Finish", origin=Origin.POLL, created_at=T0 - timedelta(1)
    )
    after, effect = merge(task, poll, T0)
    assert effect is Effect.SAME_TRANSITION
    assert after == task
    assert poll.transition_key == event(Status.FINISHED, Outcome.SUCCESS).transition_key
    assert poll.event_id != event(Status.FINISHED, Outcome.SUCCESS).event_id


def test_disagreeing_terminal_reports_the_later_provider_time_wins() -> None:
    task, _ = merge(None, event(Status.FINISHED, Outcome.FAILED, finished_at=T0), T0)
    older = event(Status.FINISHED, Outcome.SUCCESS, finished_at=T0 - timedelta(minutes=1))
    assert merge(task, older, T0)[1] is Effect.STALE
    newer = event(Status.FINISHED, Outcome.SUCCESS, finished_at=T0 + timedelta(minutes=1))
    after, effect = merge(task, newer, T0)
    assert effect is Effect.APPLIED
    assert after is not None and after.outcome is Outcome.SUCCESS and after.version == 2


def test_at_equal_time_a_fresh_query_answer_wins_over_a_callback() -> None:
    task, _ = merge(None, event(Status.FINISHED, Outcome.FAILED, finished_at=T0), T0)
    callback = event(Status.FINISHED, Outcome.SUCCESS, finished_at=T0, provider_status="other")
    assert merge(task, callback, T0)[1] is Effect.STALE
    poll = event(Status.FINISHED, Outcome.SUCCESS, finished_at=T0, origin=Origin.POLL)
    after, effect = merge(task, poll, T0)
    assert effect is Effect.APPLIED
    assert after is not None and after.outcome is Outcome.SUCCESS and after.last_origin is Origin.POLL


def test_events_without_status_or_task_change_nothing() -> None:
    task, _ = merge(None, event(Status.PROCESSING), T0)
    assert merge(task, event(None), T0) == (task, Effect.INFO)
    assert merge(None, event(Status.FINISHED, task_id=None), T0) == (None, Effect.NO_TASK)


def test_media_events_are_keyed_by_media_id() -> None:
    media = event(Status.FINISHED, Outcome.SUCCESS, task_id=None, media_id="528", event_type="FileDeleted")
    task, effect = merge(None, media, T0)
    assert effect is Effect.APPLIED
    assert task is not None and task.task_id == "media:528"


# confirmation: a held terminal callback judged by a query answer, with the source's grace ----------------------

GRACE_S = 120.0


def judged(answer: Status, outcome: Outcome | None = None, *, after_s: float) -> tuple[Effect, str | None]:
    """What an answer saying `answer` (asked `after_s` after the held callback arrived) makes of a callback that
    says finished/success, with `GRACE_S` of grace."""
    held = event(Status.FINISHED, Outcome.SUCCESS)
    report = event(answer, outcome, origin=Origin.POLL, received_at=T0 + timedelta(seconds=after_s))
    task, _ = merge(None, report, report.received_at)
    return judge_held(held, task, report, GRACE_S)


def test_an_answer_finished_as_the_callback_says_confirms_it_at_once() -> None:
    assert judged(Status.FINISHED, Outcome.SUCCESS, after_s=0.5) == (Effect.CONFIRMED, None)


def test_an_answer_finished_otherwise_refutes_the_callback_at_once_whatever_the_grace() -> None:
    effect, reason = judged(Status.FINISHED, Outcome.FAILED, after_s=0.5)
    assert effect is Effect.UNCONFIRMED
    assert reason is not None and reason.endswith(
        "the callback says finished/success, the provider says finished/failed"
    )


def test_an_answer_not_finished_leaves_the_callback_held_within_the_grace_and_refutes_it_after() -> None:
    assert judged(Status.PROCESSING, after_s=0.0) == (Effect.HELD, None)
    assert judged(Status.WAITING, after_s=GRACE_S - 0.001) == (Effect.HELD, None)
    effect, reason = judged(Status.PROCESSING, after_s=GRACE_S)
    assert effect is Effect.UNCONFIRMED
    assert reason == (
        "not confirmed by the provider: task task-1 (tencent-vod): the callback says finished/success,"
        " the provider still says processing 120 s after the callback"
    )


def test_an_answer_asked_before_the_callback_arrived_cannot_refute_it() -> None:
    assert judged(Status.FINISHED, Outcome.FAILED, after_s=-1.0) == (Effect.HELD, None)
    assert judged(Status.PROCESSING, after_s=-GRACE_S - 1.0) == (Effect.HELD, None)


def test_without_grace_an_answer_not_finished_refutes_at_once_as_before() -> None:
    held = event(Status.FINISHED, Outcome.SUCCESS)
    report = event(Status.PROCESSING, origin=Origin.POLL, received_at=T0)
    effect, reason = judge_held(held, None, report)
    assert effect is Effect.UNCONFIRMED
    assert reason is not None and reason.endswith("the provider says processing")


def test_not_found_leaves_a_callback_held_within_the_grace() -> None:
    held = event(Status.FINISHED, Outcome.SUCCESS)
    assert judge_unanswered(held, T0 - timedelta(seconds=1), "not found", 0.0) == (Effect.HELD, None)  # before it
    assert judge_unanswered(held, T0 + timedelta(seconds=30), "not found", GRACE_S) == (Effect.HELD, None)
    effect, reason = judge_unanswered(held, T0 + timedelta(seconds=GRACE_S), "not found (gone)", GRACE_S)
    assert effect is Effect.UNCONFIRMED
    assert reason is not None and reason.endswith("the provider still says not found (gone) 120 s after the callback")


def test_judge_all_counts_what_the_grace_keeps_held() -> None:
    early = event(Status.FINISHED, Outcome.SUCCESS, received_at=T0 - timedelta(seconds=GRACE_S))
    recent = event(Status.FINISHED, Outcome.PARTIAL, received_at=T0 - timedelta(seconds=3))
    report = event(Status.PROCESSING, origin=Origin.POLL, received_at=T0)
    task, _ = merge(None, report, T0)
    verdicts, still_held = judge_all([(early, 1), (recent, 2)], [], task, report, GRACE_S)
    assert [(v.capture_id, v.effect) for v in verdicts] == [(1, Effect.UNCONFIRMED)]
    assert still_held == 1
