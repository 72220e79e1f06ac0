"""`create_app(settings)`: the receiver's routes and the lifespan that runs its background parts.

The lifespan opens the store and starts the processing: a worker process (`receiver.worker`, the default with
SQLite) or the inline processor, either of which begins with the captures a previous run left pending; on
shutdown it stops the processing (what is left stays pending) and closes the store.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, Router

from receiver.clock import Clock, SystemClock
from receiver.config import Settings
from receiver.fallback.scheduler import Fallback
from receiver.ingest import Pipeline
from receiver.outbox import Forwarding
from receiver.routes import admin, health, metrics
from receiver.routes.callbacks import receive_callback
from receiver.store.base import Store
from receiver.worker import Worker

log = logging.getLogger("vodhook")


def open_store(settings: Settings, clock: Clock, *, derived_writes: bool = False) -> Store:
    """The store the settings name: SQLite in the data dir by default. `derived_writes` is for the processing
    worker, which writes only what it can derive again from committed captures (`SqliteStore`: commits
    without an fsync of their own; PostgreSQL commits as ever)."""
    if settings.store == "sqlite":
        from receiver.store.sqlite import SqliteStore

        return SqliteStore(settings.sqlite_path, clock=clock, refusals=settings.refusals, derived_writes=derived_writes)
    if settings.store.startswith(("postgresql://", "postgres://")):
        from receiver.store.postgres import PostgresStore

        return PostgresStore(settings.store, clock=clock, refusals=settings.refusals)
    raise ValueError(f'store: unsupported store {settings.store!r} (use "sqlite" or a postgresql:// URL)')


def startup_warnings(settings: Settings) -> list[str]:
    """What an operator should know before trusting this configuration."""
    warnings = [
        f"source {name!r} ({source.dialect}) has no signature key: it accepts unsigned callbacks"
        for name, source in settings.sources.items()
        if not source.keys and source.dialect not in ("tencent-vod-v2",)
    ]
    if not settings.admin_token and settings.host not in ("127.0.0.1", "localhost", "::1"):
        warnings.append(f"the admin API listens on {settings.host} without a token: set VODHOOK_ADMIN_TOKEN")
    return warnings


def create_app(settings: Settings, clock: Clock | None = None, store: Store | None = None) -> Starlette:
    own_store = store is None and clock is None
    clock = clock or SystemClock(timedelta(seconds=settings.clock_offset_s))
    store = store or open_store(settings, clock)
    forwarding = Forwarding(store, settings.sinks, clock, settings.data_dir)
    pipeline = Pipeline(store, settings.sources, clock, route=forwarding.route)
    pipeline.listeners.append(forwarding.on_applied)
    fallback = Fallback(settings, pipeline, clock)
    fallback.attach()
    # A worker process needs a store it can open itself: not one handed in (tests), and never a test clock.
    worker = Worker(settings, forwarding.wake) if settings.processing_mode == "worker" and own_store else None
    pipeline.external = worker is not None
    pipeline.hand_over = worker.hand_over if worker is not None else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for warning in startup_warnings(settings):
            log.warning(warning)
        await store.open()
        if settings.process and worker is not None:
            await worker.start()
        elif settings.process:
            await pipeline.start()
        else:
            log.warning("capture-only mode: callbacks are stored and stay pending until a normal start")
        forwarding.start()
        if settings.process:
            await fallback.start()
        try:
            yield
        finally:
            await fallback.stop()
            if worker is not None:
                await worker.stop()
            await pipeline.stop()
            await forwarding.stop()  # after the pipeline: its last outbox rows may still go out
            await store.close()

    async def bad_query(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, 400)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": exc.detail}, exc.status_code)

    app = Starlette(
        routes=[
            Route("/callbacks/{source}", receive_callback, methods=["POST"]),
            Route("/healthz", health.healthz),
            Route("/metrics", metrics.metrics),
            Route("/readyz", health.readyz),
            # No slash redirects under /api: an id with a "/" in it is a 404, as the OpenAPI document says.
            Mount(
                "/api",
                app=Router(admin.routes(), redirect_slashes=False),
                middleware=[Middleware(admin.BearerAuth, token=settings.admin_token)],
            ),
        ],
        lifespan=lifespan,
        exception_handlers={admin.BadQuery: bad_query, HTTPException: http_error},
    )
    app.state.settings = settings
    app.state.pipeline = pipeline
    app.state.forwarding = forwarding
    app.state.fallback = fallback
    app.state.worker = worker
    app.state.metrics = metrics.Metrics(with_worker=worker is not None)
    app.state.counters = Counter()
    return app
