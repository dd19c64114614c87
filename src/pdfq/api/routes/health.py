"""Health routes: liveness, readiness (store, blobs, queue) and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from pdfq.api.deps import ServicesDep
from pdfq.api.metrics import CONTENT_TYPE, metrics_response
from pdfq.api.services import Services
from pdfq.api.threads import blocking
from pdfq.errors import PdfqError
from pdfq.queue.local import LocalQueue

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: store, blobs and queue reachable",
    responses={503: {"description": "a dependency is down; `checks` names it"}},
)
async def readyz(services: ServicesDep) -> JSONResponse:
    return await blocking(_readiness, services)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> Response:
    queue = services.queue
    workers = None
    if isinstance(queue, LocalQueue):
        workers = (queue.busy_workers, services.settings.workers)
    return metrics_response(await blocking(services.metrics.scrape, workers=workers))


def _readiness(services: Services) -> JSONResponse:
    checks: dict[str, Any] = {}
    for name, probe in (
        ("store", services.db.ping),
        ("blobs", services.blobs.check),
        ("queue", services.queue.check),
    ):
        try:
            probe()
            checks[name] = "ok"
        except PdfqError as exc:
            checks[name] = exc.message
        except Exception as exc:
            checks[name] = f"{type(exc).__name__}: {exc}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )
