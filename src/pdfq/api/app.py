"""The FastAPI application factory: ``create_app(settings)``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import pdfq
from pdfq import tracing
from pdfq.api.errors import install_error_handlers
from pdfq.api.maintenance import CleanupLoop
from pdfq.api.middleware import RequestMiddleware
from pdfq.api.openapi import install_openapi
from pdfq.api.routes import batches, events, files, health, jobs, results, web
from pdfq.api.services import Services, build_services
from pdfq.api.threads import blocking
from pdfq.config import Settings
from pdfq.heap import freeze_heap
from pdfq.logs import configure_logging
from pdfq.notify.webhooks import WebhookSender

SHUTDOWN_GRACE_SECONDS = 10.0


def create_app(
    settings: Settings | None = None, *, configure_logs: bool = True, own_process: bool = False
) -> FastAPI:
    """Build the API. Start-up connects the store (migrating it), blobs and the queue.
    ``own_process``: the app is the process (``pdfq serve``), so start-up may tune it."""
    settings = settings or Settings()
    if configure_logs:
        configure_logging(settings)
    tracing.setup(settings, "pdfq-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services: Services = await blocking(build_services, settings)
        services.events.bind(asyncio.get_running_loop())
        app.state.services = services
        await blocking(services.metrics.start_from_now)
        webhooks = WebhookSender(settings, services.db, services.webhook_secret)
        services.events.on_job_end(webhooks.wake)
        upkeep = CleanupLoop(settings, services.db, services.blobs)
        services.queue.start()
        webhooks.start()
        upkeep.start()
        if own_process:
            freeze_heap()
        try:
            yield
        finally:
            await upkeep.stop()
            await webhooks.stop()
            await blocking(services.queue.stop, SHUTDOWN_GRACE_SECONDS)
            services.close()

    app = FastAPI(
        title="pdfq",
        version=pdfq.__version__,
        summary="Asynchronous PDF ingestion: text, tables, Markdown and OCR.",
        lifespan=lifespan,
    )

    def observe(method: str, route: str, status: int, seconds: float) -> None:
        services: Services | None = getattr(app.state, "services", None)
        if services is not None:
            services.metrics.observe_request(method, route, status, seconds)

    app.add_middleware(RequestMiddleware, observe=observe, access_log=settings.access_log)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(jobs.router)
    app.include_router(results.router)
    app.include_router(files.router)
    app.include_router(events.router)
    app.include_router(batches.router)
    app.include_router(health.router)
    app.include_router(web.router)
    return app
