"""`GET /metrics`: Prometheus text. A rise in `vodhook_fallback_recovered_total` means callbacks are being
missed (the fallback recovered tasks whose terminal callback never came); a rise in
`vodhook_unconfirmed_callbacks_total` means terminal callbacks the provider did not confirm (a source with
`confirm`): forged, or ahead of what the provider's own API says."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from receiver.fallback.scheduler import Fallback


class FallbackMetrics:
    """Gauges refreshed from the scheduler's counters and the store's tracked tasks on every scrape."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()

        def gauge(name: str, text: str, labels: tuple[str, ...] = ()) -> Gauge:
            return Gauge(name, text, labels, registry=self.registry)

        self.recovered = gauge("vodhook_fallback_recovered_total", "Tasks whose terminal event only polling brought.")
        self.unconfirmed = gauge(
            "vodhook_unconfirmed_callbacks_total", "Held terminal callbacks the provider's answer did not confirm."
        )
        self.lost = gauge("vodhook_fallback_lost_total", "Tasks marked lost (not found past the retention window).")
        self.queries = gauge("vodhook_fallback_queries_total", "Provider queries made (task queries and listings).")
        self.waits = gauge("vodhook_fallback_rate_limit_waits_total", "Queries that waited for a token.", ("source",))
        self.limited = gauge("vodhook_fallback_rate_limited_total", "The provider's rate-limit answers.")
        self.overdue = gauge("vodhook_fallback_overdue", "Open tracked tasks past their deadline now.")
        self.tracked = gauge("vodhook_fallback_tracked", "Tracked tasks by state.", ("state",))

    async def render(self, fallback: Fallback) -> bytes:
        stats = fallback.stats
        self.recovered.set(stats.recovered)
        self.lost.set(stats.lost)
        self.unconfirmed.set(stats.unconfirmed)
        self.queries.set(stats.queries)
        self.limited.set(stats.rate_limited)
        for name, runtime in fallback.sources.items():
            self.waits.labels(name).set(runtime.bucket.waits)
        counts = await fallback.store.tracked_counts(fallback.clock.now())
        self.overdue.set(counts.pop("overdue", 0))
        for state, count in counts.items():
            self.tracked.labels(state).set(count)
        return generate_latest(self.registry)


async def metrics(request: Request) -> Response:
    exporter: FallbackMetrics = request.app.state.metrics
    body = await exporter.render(request.app.state.fallback)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
