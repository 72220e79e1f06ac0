"""`GET /metrics`: Prometheus text. A rise in `vodhook_fallback_recovered_total` means callbacks are being
missed (the fallback recovered tasks whose terminal callback never came); a rise in
`vodhook_unconfirmed_callbacks_total` means terminal callbacks the provider did not confirm (a source with
`confirm`): forged, or ahead of what the provider's own API says.

The receiver's own health comes from the store, so it is right whichever process did the work (the server,
its processing worker, a replica): `vodhook_captures{state="pending"}` is the processing backlog,
`{state="quarantined"}` the payloads no dialect could read, `vodhook_outbox_messages{state="dead"}` the
messages a sink never took. `vodhook_refused_signatures_total` counts this process's 401s.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from receiver.fallback.scheduler import Fallback
from receiver.store.base import Store
from receiver.worker import Worker


class Metrics:
    """Gauges refreshed on every scrape: the store's backlog, this process's counters, the processing worker,
    and the fallback scheduler's counters and tracked tasks."""

    def __init__(self, *, with_worker: bool = False) -> None:
        self.registry = CollectorRegistry()

        def gauge(name: str, text: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, text, labels, registry=self.registry)

        self.recovered = gauge("vodhook_fallback_recovered_total", "Tasks whose terminal event only polling brought.")
        self.unconfirmed = gauge(
            "vodhook_unconfirmed_callbacks_total", "Held terminal callbacks the provider's answer did not confirm."
        )
        self.lost = gauge("vodhook_fallback_lost_total", "Tasks marked lost (not found past the retention window).")
        self.queries = gauge("vodhook_fallback_queries_total", "Provider queries made (task queries and listings).")
        self.status_listings = gauge(
            "vodhook_fallback_status_listings_total", "Running-tasks listings made before a batch's task queries."
        )
        self.spared = gauge("vodhook_fallback_spared_total", "Due tasks a listing showed running: not queried.")
        self.waits = gauge("vodhook_fallback_rate_limit_waits_total", "Queries that waited for a token.", ("source",))
        self.limited = gauge("vodhook_fallback_rate_limited_total", "The provider's rate-limit answers.")
        self.overdue = gauge("vodhook_fallback_overdue", "Open tracked tasks past their deadline now.")
        self.tracked = gauge("vodhook_fallback_tracked", "Tracked tasks by state.", ("state",))
        self.captures = gauge(
            "vodhook_captures", "Captures waiting to be processed, quarantined or refused, by state.", ("state",)
        )
        self.outbox = gauge(
            "vodhook_outbox_messages", "Outbox messages waiting or given up on, by sink and state.", ("sink", "state")
        )
        self.refused = gauge("vodhook_refused_signatures_total", "Callbacks this process refused (401).")
        self.worker_up: Gauge | None = None
        self.worker_restarts: Gauge | None = None
        if with_worker:  # only a receiver that has a processing worker reports one
            self.worker_up = gauge("vodhook_worker_up", "1 while the processing worker process runs.")
            self.worker_restarts = gauge("vodhook_worker_restarts_total", "Times the processing worker was restarted.")

    async def render(self, fallback: Fallback, counters: Mapping[str, int], worker: Worker | None = None) -> bytes:
        await self._render_receiver(fallback.store, counters, worker)
        stats = fallback.stats
        self.recovered.set(stats.recovered)
        self.lost.set(stats.lost)
        self.unconfirmed.set(stats.unconfirmed)
        self.queries.set(stats.queries)
        self.status_listings.set(stats.listings)
        self.spared.set(stats.spared)
        self.limited.set(stats.rate_limited)
        for name, runtime in fallback.sources.items():
            self.waits.labels(name).set(runtime.bucket.waits)
        counts = await fallback.store.tracked_counts(fallback.clock.now())
        self.overdue.set(counts.pop("overdue", 0))
        for state, count in counts.items():
            self.tracked.labels(state).set(count)
        return generate_latest(self.registry)

    async def _render_receiver(self, store: Store, counters: Mapping[str, int], worker: Worker | None) -> None:
        backlog = await store.backlog()
        for state, count in backlog.captures.items():
            self.captures.labels(state).set(count)
        self.outbox.clear()  # a sink whose messages all went out has no row: drop its old values
        for (sink, state), count in backlog.outbox.items():
            self.outbox.labels(sink, state).set(count)
        self.refused.set(counters.get("refused_signature", 0))
        if worker is not None and self.worker_up is not None and self.worker_restarts is not None:
            self.worker_up.set(1 if worker.alive else 0)
            self.worker_restarts.set(worker.restarts)


async def metrics(request: Request) -> Response:
    exporter: Metrics = request.app.state.metrics
    state = request.app.state
    body = await exporter.render(state.fallback, state.counters, state.worker)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
