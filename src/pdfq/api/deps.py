"""Named FastAPI dependencies shared by the route modules.

They are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread.
A route declares what it needs with one of ``ReaderDep``, ``SubmitterDep`` or ``AdminDep``:
the caller's :class:`~pdfq.api.auth.Principal`, checked for that scope and rate-limited.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Request

from pdfq.api.auth import Principal
from pdfq.api.services import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def _principal(request: Request, scope: str) -> Principal:
    # One dependency reading its header itself, not a chain of them: FastAPI solves every
    # dependency node on every request (parameters, cache keys); timed directly, the
    # three-node chain cost 50-110 us more per request than this.
    services = await get_services(request)
    principal = await services.auth.principal(request.headers.get("authorization"))
    structlog.contextvars.bind_contextvars(tenant=principal.tenant)  # on the access-log line
    services.limiter.check(principal.tenant)
    return principal.require(scope)


async def reader(request: Request) -> Principal:
    return await _principal(request, "read")


async def submitter(request: Request) -> Principal:
    return await _principal(request, "submit")


async def admin(request: Request) -> Principal:
    return await _principal(request, "admin")


ReaderDep = Annotated[Principal, Depends(reader)]
SubmitterDep = Annotated[Principal, Depends(submitter)]
AdminDep = Annotated[Principal, Depends(admin)]
