"""The `vodhook` command. Thin: each command parses its arguments and calls into the modules that do the work."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from receiver.clock import Clock, SystemClock
from receiver.config import ConfigError, Settings, load_settings
from receiver.emulator.cli import emulate
from receiver.model import Event
from receiver.store.base import CaptureFilter, CaptureState, EventFilter, NewerSchema, Store

if TYPE_CHECKING:
    from receiver.fallback.reconcile import Summary

T = TypeVar("T")


@contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except (ConfigError, NewerSchema) as exc:
        raise click.ClickException(str(exc)) from exc


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    root = ctx.find_root().params
    with _friendly_errors():
        return load_settings(root.get("config"), data_dir=root.get("data_dir"), **overrides)


def _with_store(settings: Settings, work: Callable[[Store], Awaitable[T]]) -> T:
    from receiver.app import open_store
    from receiver.clock import SystemClock

    async def run() -> T:
        store = open_store(settings, SystemClock())
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    with _friendly_errors():
        return asyncio.run(run())


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="TOML config file.")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help="Default ./vodhook-data.")
@click.version_option(package_name="vodhook")
def main(config: Path | None, data_dir: Path | None) -> None:
    """vodhook: receive, verify, normalize, track and forward cloud video task callbacks."""


@main.command()
@click.option("--host", help="Interface to listen on (default 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default 8080; 0 picks a free one).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the receiver."""
    import logging

    import uvicorn

    from receiver.app import create_app

    settings = _settings(ctx, host=host, port=port)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    click.echo(f"vodhook: data dir {settings.data_dir.resolve()}, store {settings.store}", err=True)
    for name, source in settings.sources.items():
        click.echo(f"vodhook: POST /callbacks/{name}  ({source.dialect})", err=True)
    app = create_app(settings)
    # The store's writer thread hands every commit back to the event loop; under load the loop holds the GIL,
    # and the default 5 ms switch interval would delay each hand-off by up to that much (measured in bench/).
    sys.setswitchinterval(0.0005)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level, access_log=False)


@main.command()
def schema() -> None:
    """Print the JSON Schema of the normalized event."""
    _print_json(Event.model_json_schema())


# events, tasks, quarantine -------------------------------------------------------------------------------


def _event_line(item: Any) -> str:
    event = item.event
    return (
        f"{item.seq:>7}  {event.received_at:%Y-%m-%d %H:%M:%S}  {event.source:<16} {event.event_type:<34} "
        f"{event.task_key or '-':<40} {(event.status or '-'):<10} {(event.outcome or '-'):<8} {item.effect}"
    )


@main.group()
def events() -> None:
    """Normalized events, newest first."""


@events.command("list")
@click.option("--source")
@click.option("--task-id")
@click.option("--since", help="ISO-8601 time or unix seconds.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def events_list(
    ctx: click.Context, source: str | None, task_id: str | None, since: str | None, limit: int, as_json: bool
) -> None:
    from receiver.dialects._coerce import Lenient

    since_at = Lenient().time_(since, "--since") if since else None
    if since and since_at is None:
        raise click.BadParameter(f"not a time: {since!r}", param_hint="--since")
    filt = EventFilter(source=source, task_id=task_id, since=since_at, limit=limit)
    found = _with_store(_settings(ctx), lambda store: store.list_events(filt))
    if as_json:
        _print_json([{"seq": i.seq, "effect": i.effect.value, **i.event.model_dump(mode="json")} for i in found])
        return
    for item in found:
        click.echo(_event_line(item))


@events.command("show")
@click.argument("event_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def events_show(ctx: click.Context, event_id: str, as_json: bool) -> None:
    found = _with_store(_settings(ctx), lambda store: store.get_event(event_id))
    if found is None:
        raise click.ClickException(f"no event {event_id!r}")
    _print_json({"seq": found.seq, "effect": found.effect.value, **found.event.model_dump(mode="json")})


@main.group()
def tasks() -> None:
    """Task states, and the tasks the fallback tracks."""


@tasks.command("show")
@click.argument("provider")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def tasks_show(ctx: click.Context, provider: str, task_id: str, as_json: bool) -> None:
    async def work(store: Store) -> tuple[Any, Any]:
        return await store.get_task(provider, task_id), await store.task_events(provider, task_id)

    task, timeline = _with_store(_settings(ctx), work)
    if task is None and not timeline:
        raise click.ClickException(f"no task {task_id!r} of provider {provider!r}")
    if as_json:
        _print_json(
            {
                "task": task.model_dump(mode="json") if task else None,
                "events": [
                    {"seq": e.seq, "effect": e.effect.value, **e.event.model_dump(mode="json")} for e in timeline
                ],
            }
        )
        return
    if task is not None:
        click.echo(
            f"{task.provider} {task.task_id}: {task.status} {task.outcome or ''} (version {task.version},"
            f" {task.provider_status or '-'})"
        )
        for output in task.outputs:
            click.echo(f"  output {output.key}: {output.status or '-'} {output.outcome or ''} {output.url or ''}")
    for item in timeline:
        click.echo(_event_line(item))


# the fallback: tracked tasks, reconcile (receiver/fallback/ does the work) ---------------------------------


def _clock(settings: Settings) -> Clock:
    """The receiver's clock, with its configured offset (as `serve` reads it)."""
    from datetime import timedelta

    return SystemClock(timedelta(seconds=settings.clock_offset_s))


@tasks.command("track")
@click.argument("source")
@click.argument("task_id")
@click.option(
    "--deadline",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Overdue this long after --created-at (or now); default: the configured deadline.",
)
@click.option(
    "--created-at",
    metavar="TIME",
    help="The provider's creation time (ISO-8601 or unix seconds); the retention guard.",
)
@click.option("--kind", "task_kind", help="Task kind (transcode, procedure, ...): picks its configured deadline.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def tasks_track(
    ctx: click.Context,
    source: str,
    task_id: str,
    deadline: float | None,
    created_at: str | None,
    task_kind: str | None,
    as_json: bool,
) -> None:
    """Have the fallback watch a task (as POST /api/tasks): queried once overdue, until terminal or lost."""
    from pydantic import ValidationError

    from receiver.fallback.api import Registration, RegistrationError, register, source_provider, tracked_json
    from receiver.fallback.tracking import Tracker

    settings = _settings(ctx)
    try:
        source_provider(settings, source)
    except RegistrationError as exc:
        raise click.BadParameter(str(exc), param_hint="SOURCE") from exc
    try:
        body = Registration(
            source=source,
            task_id=task_id,
            deadline_s=deadline,
            created_at=_time_option(created_at, "--created-at"),
            task_kind=task_kind,
        )
    except ValidationError as exc:
        raise click.UsageError(f"invalid task registration: {exc}") from exc
    saved = _with_store(
        settings, lambda store: register(Tracker(store, settings.fallback, _clock(settings)), settings, body)
    )
    if as_json:
        _print_json(tracked_json(saved))
    elif saved.state.value == "open":
        click.echo(
            f"tracking {saved.provider} {saved.task_id} (source {saved.source}): overdue at"
            f" {saved.deadline:%Y-%m-%d %H:%M:%S}Z"
        )
    else:
        click.echo(f"{saved.provider} {saved.task_id} is already {saved.state.value}: left as it is")


@tasks.command("list")
@click.option("--overdue", is_flag=True, help="Open tasks past their deadline.")
@click.option("--lost", is_flag=True, help="Tasks the provider no longer knows (past its retention window).")
@click.option("--state", type=click.Choice(["open", "done", "recovered", "lost"]))
@click.option("--source")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def tasks_list(
    ctx: click.Context, overdue: bool, lost: bool, state: str | None, source: str | None, limit: int, as_json: bool
) -> None:
    """The tasks the fallback tracks, oldest deadline first."""
    from receiver.fallback.api import list_filter, tracked_json
    from receiver.store.base import TrackState

    if overdue + lost + (state is not None) > 1:
        raise click.UsageError("give one of --overdue, --lost, --state")
    settings = _settings(ctx)
    wanted = TrackState.LOST if lost else TrackState(state) if state else None
    filt = list_filter(_clock(settings).now(), state=wanted, overdue=overdue, source=source, limit=limit)
    found = _with_store(settings, lambda store: store.list_tracked(filt))
    if as_json:
        _print_json([tracked_json(task) for task in found])
        return
    for task in found:
        click.echo(
            f"{task.state.value:<9} {task.deadline:%Y-%m-%d %H:%M:%S}  {task.provider:<11} {task.task_id:<40}"
            f" {task.source:<16} {task.via:<5} {task.attempts:>3} queries  {task.last_error or ''}".rstrip()
        )


@main.command()
@click.option(
    "--since",
    metavar="TIME",
    help="Look back to this time (ISO-8601 or unix seconds): sweep from it, and query every open task created"
    " or tracked since then, whatever its next check.",
)
@click.option("--source", help="Only this source.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def reconcile(ctx: click.Context, since: str | None, source: str | None, as_json: bool) -> None:
    """One fallback pass now: sweep the providers' listings, query the overdue tasks (beside a server or not)."""
    from receiver.fallback import reconcile as reconciling
    from receiver.fallback.api import RegistrationError

    settings = _settings(ctx)
    since_at = _time_option(since, "--since")
    try:
        reconciling.reconcile_settings(settings, source)
    except RegistrationError as exc:
        raise click.BadParameter(str(exc), param_hint="--source") from exc
    except reconciling.NothingToReconcile as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        summary = _with_store(
            settings,
            lambda store: reconciling.reconcile(settings, store, _clock(settings), since=since_at, source=source),
        )
    except ValueError as exc:  # a fallback source whose dialect cannot be queried, or that [sources] lacks
        raise click.ClickException(str(exc)) from exc
    if as_json:
        _print_json(summary.as_json())
    else:
        _print_summary(summary)
    if summary.failed:
        ctx.exit(1)  # not a provider's answer: a bug or a broken store; the log has the traceback


def _print_summary(summary: Summary) -> None:
    click.echo(
        f"reconcile {', '.join(summary.sources)}: {summary.queries} queries, {summary.discovered} discovered;"
        f" {summary.checked} tasks queried: {summary.recovered} recovered, {summary.lost} lost,"
        f" {summary.still_open} still open"
    )
    if summary.deferred:
        click.echo(f"{summary.deferred} due tasks left to the running scheduler ({summary.leader})")
    if summary.skipped or summary.closed:
        click.echo(f"{summary.skipped + summary.closed} tasks closed or checked meanwhile by somebody else")
    for error in summary.errors:
        click.echo(f"error: {error}", err=True)


@main.group()
def quarantine() -> None:
    """Captures that could not be identified as any event."""


@quarantine.command("list")
@click.option("--source")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def quarantine_list(ctx: click.Context, source: str | None, limit: int, as_json: bool) -> None:
    from receiver.routes.admin import capture_json

    filt = CaptureFilter(source=source, state=CaptureState.QUARANTINED, limit=limit)
    found = _with_store(_settings(ctx), lambda store: store.list_captures(filt))
    if as_json:
        _print_json([capture_json(c, with_body=True) for c in found])
        return
    for capture in found:
        click.echo(f"{capture.id:>7}  {capture.received_at:%Y-%m-%d %H:%M:%S}  {capture.source:<16} {capture.error}")


@main.command()
@click.argument("capture_ids", nargs=-1, type=int)
@click.option("--quarantined", is_flag=True, help="Every quarantined capture.")
@click.option("--refused", is_flag=True, help="Every refused capture (after fixing a key).")
@click.option("--source", help="Only captures of this source.")
@click.pass_context
def reprocess(
    ctx: click.Context, capture_ids: tuple[int, ...], quarantined: bool, refused: bool, source: str | None
) -> None:
    """Re-run verification and normalization of stored captures, without sending anything."""
    from receiver.clock import SystemClock
    from receiver.ingest import Pipeline
    from receiver.outbox import build_router

    settings = _settings(ctx)
    states = [s for s, wanted in ((CaptureState.QUARANTINED, quarantined), (CaptureState.REFUSED, refused)) if wanted]
    if not capture_ids and not states:
        raise click.UsageError("name capture ids, or --quarantined and/or --refused")

    async def work(store: Store) -> tuple[int, int]:
        ids = list(capture_ids)
        for state in states:
            before: int | None = None
            while True:
                page = await store.list_captures(CaptureFilter(source=source, state=state, before_id=before, limit=500))
                ids += [capture.id for capture in page]
                if len(page) < 500:
                    break
                before = page[-1].id
        route = build_router(settings.sinks) if settings.sinks else None  # reprocessed events are forwarded too
        pipeline = Pipeline(store, settings.sources, SystemClock(), route=route)
        results = await pipeline.reprocess(sorted(set(ids)))
        return len(ids), sum(1 for result in results if result.error is None)

    asked, ok = _with_store(settings, work)
    click.echo(f"reprocessed {asked} captures: {ok} normalized, {asked - ok} still quarantined or refused")


# the outbox ----------------------------------------------------------------------------------------------


def _time_option(value: str | None, hint: str) -> Any:
    from receiver.dialects._coerce import Lenient

    if value is None:
        return None
    when = Lenient().time_(value, hint)
    if when is None:
        raise click.BadParameter(f"not a time: {value!r}", param_hint=hint)
    return when


def _outbox_json(message: Any) -> dict[str, Any]:
    return {
        "id": message.id,
        "sink": message.sink,
        "state": message.state,
        "event_id": message.event_id,
        "provider": message.provider,
        "task_id": message.task_key,
        "version": message.version,
        "attempts": message.attempts,
        "next_attempt_at": message.next_attempt_at,
        "last_error": message.last_error,
        "created_at": message.created_at,
        "redelivery": message.redelivery,
        "delivered_at": message.delivered_at,
        "dead_at": message.dead_at,
    }


@main.group()
def outbox() -> None:
    """Messages on their way to the sinks: dead letters, retries, redelivery."""


@outbox.command("list")
@click.option("--sink")
@click.option("--state", type=click.Choice(["pending", "delivered", "dead"]), default="dead", show_default=True)
@click.option("--task-id")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def outbox_list(
    ctx: click.Context, sink: str | None, state: str, task_id: str | None, limit: int, as_json: bool
) -> None:
    """Show the counts per sink, then the newest messages in a state (dead letters by default)."""
    from receiver.store.base import OutboxFilter, OutboxState

    filt = OutboxFilter(sink=sink, state=OutboxState(state), task_key=task_id, limit=limit)

    async def work(store: Store) -> tuple[Any, Any]:
        return await store.outbox_counts(), await store.list_outbox(filt)

    counts, found = _with_store(_settings(ctx), work)
    if as_json:
        _print_json({"counts": counts, "messages": [_outbox_json(m) for m in found]})
        return
    if not counts:
        click.echo("the outbox is empty")
    for name, by_state in sorted(counts.items()):
        click.echo(f"{name}: " + ", ".join(f"{n} {s}" for s, n in sorted(by_state.items())))
    for m in found:
        click.echo(
            f"{m.id:>8}  {m.sink:<12} {m.created_at:%Y-%m-%d %H:%M:%S}  {m.task_key or '-':<36} v{m.version or '-':<4}"
            f" {m.attempts:>3} tries  {m.last_error or ''}"
        )


def _outbox_filter(sink: str | None, ids: tuple[int, ...], every: bool, state: Any) -> Any:
    from receiver.store.base import OutboxFilter

    if not ids and not every:
        raise click.UsageError("name message ids, or --all (with --sink to limit it to one sink)")
    return OutboxFilter(sink=sink, state=state, ids=list(ids) if ids else None)


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--sink", help="Only this sink's dead letters.")
@click.option("--all", "every", is_flag=True, help="Every dead letter (of --sink).")
@click.pass_context
def outbox_retry(ctx: click.Context, ids: tuple[int, ...], sink: str | None, every: bool) -> None:
    """Send dead letters again: they become pending, due now, with their attempts reset."""
    from receiver.clock import SystemClock
    from receiver.store.base import OutboxState

    filt = _outbox_filter(sink, ids, every, OutboxState.DEAD)
    moved = _with_store(_settings(ctx), lambda store: store.retry_outbox(filt, SystemClock().now()))
    click.echo(f"re-queued {moved} dead letters")


@outbox.command("purge")
@click.argument("ids", nargs=-1, type=int)
@click.option("--sink")
@click.option("--all", "every", is_flag=True, help="Every dead letter (of --sink).")
@click.option("--delivered", is_flag=True, help="Delivered messages instead of dead letters.")
@click.option("--before", help="Only messages created before this time (ISO-8601 or unix seconds).")
@click.pass_context
def outbox_purge(
    ctx: click.Context, ids: tuple[int, ...], sink: str | None, every: bool, delivered: bool, before: str | None
) -> None:
    """Delete dead letters (or delivered messages) for good."""
    from dataclasses import replace

    from receiver.store.base import OutboxState

    state = OutboxState.DELIVERED if delivered else OutboxState.DEAD
    filt = replace(_outbox_filter(sink, ids, every, state), before=_time_option(before, "--before"))
    gone = _with_store(_settings(ctx), lambda store: store.purge_outbox(filt))
    click.echo(f"purged {gone} {state.value} messages")


@outbox.command("redeliver")
@click.option("--sink", required=True, help="The configured sink to send to.")
@click.option("--source")
@click.option("--provider")
@click.option("--task-id")
@click.option("--event-type")
@click.option("--since", help="Events received at or after this time (ISO-8601 or unix seconds).")
@click.option("--until", help="Events received before this time.")
@click.option("--limit", type=int, default=1_000_000, show_default=True)
@click.pass_context
def outbox_redeliver(
    ctx: click.Context,
    sink: str,
    source: str | None,
    provider: str | None,
    task_id: str | None,
    event_type: str | None,
    since: str | None,
    until: str | None,
    limit: int,
) -> None:
    """Send stored events to a sink again (new delivery ids, the same event ids), oldest first."""
    from receiver.clock import SystemClock

    settings = _settings(ctx)
    if sink not in settings.sinks:
        known = ", ".join(settings.sinks) or "none configured"
        raise click.BadParameter(f"no sink {sink!r} (sinks: {known})", param_hint="--sink")
    filt = EventFilter(
        source=source,
        provider=provider,
        task_id=task_id,
        event_type=event_type,
        since=_time_option(since, "--since"),
        until=_time_option(until, "--until"),
        limit=limit,
    )
    queued = _with_store(settings, lambda store: store.redeliver(sink, filt, SystemClock().now()))
    click.echo(f"queued {queued} events for sink {sink!r}; a running receiver sends them within its poll interval")


# captures: export, import, prune; replay (receiver/replay.py does the work) -------------------------------


@main.group()
def captures() -> None:
    """Raw requests as received: move them between instances, apply retention."""


def _selection(source: str | None, since: str | None, until: str | None, task_id: str | None) -> Any:
    from receiver.replay import Selection

    return Selection(
        source=source,
        since=_time_option(since, "--since"),
        until=_time_option(until, "--until"),
        task_id=task_id,
    )


@captures.command("export")
@click.option("--source")
@click.option("--since", help="ISO-8601 time or unix seconds (inclusive).")
@click.option("--until", help="ISO-8601 time or unix seconds (exclusive).")
@click.option("--task-id", help="Only captures whose events belong to this task.")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="Default: stdout.")
@click.pass_context
def captures_export(
    ctx: click.Context, source: str | None, since: str | None, until: str | None, task_id: str | None, output: Any
) -> None:
    """Write captures as JSON Lines (one capture per line, body base64), oldest first."""
    from receiver.replay import export_captures

    selection = _selection(source, since, until, task_id)
    count = _with_store(_settings(ctx), lambda store: export_captures(store, selection, output))
    click.echo(f"exported {count} captures", err=True)


@captures.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--no-process", is_flag=True, help="Leave them pending for the next receiver start.")
@click.pass_context
def captures_import(ctx: click.Context, file: Any, no_process: bool) -> None:
    """Import captures exported elsewhere; they are processed like a fresh ingest (a re-import changes nothing)."""
    from receiver.clock import SystemClock
    from receiver.ingest import Pipeline
    from receiver.replay import BadRecord, import_captures, read_records

    settings = _settings(ctx)
    try:
        records = list(read_records(file, getattr(file, "name", "input")))
    except BadRecord as exc:
        raise click.ClickException(str(exc)) from exc
    unknown = sorted({capture.source for capture in records} - set(settings.sources))
    if unknown and not no_process:
        click.echo(f"warning: sources not configured here: {', '.join(unknown)} (detected by content)", err=True)

    async def work(store: Store) -> tuple[int, int, int]:
        result = await import_captures(store, records)
        ok = len(result.imported)
        if not no_process and result.imported:
            processed = await Pipeline(store, settings.sources, SystemClock()).reprocess(result.imported)
            ok = sum(1 for item in processed if item.error is None)
        return len(result.imported), result.already_here, ok

    imported, already, ok = _with_store(settings, work)
    tail = "" if no_process else f", {ok} normalized"
    click.echo(f"imported {imported} captures ({already} already here){tail}")


@captures.command("prune")
@click.option("--older-than", type=float, help="Delete captures received more than DAYS ago.", metavar="DAYS")
@click.option("--max-bytes", type=int, help="Then delete the oldest until bodies total at most N bytes.")
@click.pass_context
def captures_prune(ctx: click.Context, older_than: float | None, max_bytes: int | None) -> None:
    """Retention: delete old captures (never pending ones; events stay)."""
    from datetime import timedelta

    from receiver.clock import SystemClock

    if older_than is None and max_bytes is None:
        raise click.UsageError("give --older-than DAYS and/or --max-bytes N")
    if (older_than is not None and older_than < 0) or (max_bytes is not None and max_bytes < 0):
        raise click.UsageError("--older-than and --max-bytes must not be negative")
    cutoff = SystemClock().now() - timedelta(days=older_than) if older_than is not None else None
    deleted = _with_store(_settings(ctx), lambda store: store.prune_captures(cutoff, max_bytes))
    click.echo(f"pruned {deleted} captures")


@main.command()
@click.option("--from-file", type=click.File("r", encoding="utf-8"), help="Captures exported as JSON Lines.")
@click.option("--to", help="Receiver base URL (…/callbacks/<source> is added), or a URL with {source}.")
@click.option("--to-source", help="Send every capture to this source instead of its own.")
@click.option("--source", help="Only captures of this source.")
@click.option("--since", help="ISO-8601 time or unix seconds (inclusive).")
@click.option("--until", help="ISO-8601 time or unix seconds (exclusive).")
@click.option("--task-id", help="Only captures whose events belong to this task (from the store).")
@click.option("--rate", type=float, help="Requests per second at most.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Requests in flight; above 1 the arrival order (which decides ties between reports) may change.",
)
@click.option("--dry-run", is_flag=True, help="Select and count, send nothing.")
@click.option("--resign", is_flag=True, help="Re-sign with the target source's key and a fresh timestamp.")
@click.option("--key", help="--resign: this key instead of the configured one.")
@click.option("--public-url", help="--resign (Alibaba): the URL the target source was configured with.")
@click.pass_context
def replay(
    ctx: click.Context,
    from_file: Any,
    to: str | None,
    to_source: str | None,
    source: str | None,
    since: str | None,
    until: str | None,
    task_id: str | None,
    rate: float | None,
    concurrency: int,
    dry_run: bool,
    resign: bool,
    key: str | None,
    public_url: str | None,
) -> None:
    """Re-send captures (from the store or a file) with their original bytes and headers."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from receiver import replay as replaying

    settings = _settings(ctx)
    if rate is not None and rate <= 0:
        raise click.BadParameter("must be > 0", param_hint="--rate")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    options = replaying.ReplayOptions(
        to=to or f"http://{host}:{settings.port}",
        rate=rate,
        concurrency=concurrency,
        dry_run=dry_run,
        resign_with=replaying.resign_policies(settings.sources, key, public_url) if resign else None,
        to_source=to_source,
    )
    selection = _selection(source, since, until, task_id)
    bar = Progress(
        TextColumn("replay"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        disable=dry_run or not sys.stderr.isatty(),
    )
    with bar:
        task = bar.add_task("replay", total=None, counts="")

        def shown(summary: Any) -> None:
            counts = f"accepted {summary.accepted}  refused {summary.refused}  failed {summary.failed}"
            bar.update(task, completed=summary.sent, counts=counts)

        try:
            if from_file is not None:
                if task_id is not None:
                    raise click.UsageError("--task-id selects from the store; it cannot filter --from-file")
                records = [c for c in replaying.read_records(from_file, from_file.name) if selection.matches(c)]
                bar.update(task, total=len(records))
                summary = asyncio.run(replaying.replay(records, options, shown))
            else:
                summary = _with_store(
                    settings,
                    lambda store: replaying.replay(replaying.select_captures(store, selection), options, shown),
                )
        except ValueError as exc:  # BadRecord, or a --resign without a key
            raise click.ClickException(str(exc)) from exc
    verb = "would send" if dry_run else "sent"
    click.echo(
        f"{verb} {summary.selected if dry_run else summary.sent}: accepted {summary.accepted}, "
        f"refused {summary.refused}, failed {summary.failed}"
        + (f" ({', '.join(f'{k}: {v}' for k, v in summary.errors.items())})" if summary.errors else "")
    )
    if summary.refused or summary.failed:
        ctx.exit(1)


main.add_command(emulate)
