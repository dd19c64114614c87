"""ASGI middleware around every request: a request id, an access-log line, the request's
latency for ``/metrics``, and (tracing on) its server span.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs more per request and
buffers nothing well for streams. Latency is measured to the start of the answer, so a live
event stream that stays open for minutes counts as the moment it started answering.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pdfq import tracing

REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")

log = structlog.get_logger("pdfq.access")

Observe = Callable[[str, str, int, float], None]
"""Receives (method, route template, status, seconds) for each request."""


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, observe: Observe, access_log: bool = True) -> None:
        self.app = app
        self.observe = observe
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(REQUEST_ID_HEADER, b"")
        request_id = given.decode() if _VALID_ID.match(given) else uuid.uuid4().hex
        started = time.perf_counter()
        answered: list[float] = []
        status = [500]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                answered.append(time.perf_counter())
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        method = scope["method"]
        with (
            structlog.contextvars.bound_contextvars(request_id=request_id),
            tracing.server_span(method, scope["path"]) as span,
        ):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = (answered[0] if answered else time.perf_counter()) - started
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                self.observe(method, route, status[0], seconds)
                tracing.name_span(span, method, route, status[0])
                if self.access_log:
                    log.info(
                        "request",
                        method=method,
                        path=scope["path"],
                        status=status[0],
                        ms=round(seconds * 1000, 1),
                    )
