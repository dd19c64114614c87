"""Named FastAPI dependencies shared by the route modules.

They are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread.
A route declares what it needs with one of ``ReaderDep``, ``SubmitterDep`` or ``AdminDep``:
the caller's :class:`~pdfq.api.auth.Principal`, checked for that scope and rate-limited.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Header, Request

from pdfq.api.auth import Principal
from pdfq.api.services import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Principal:
    principal = await services.auth.principal(authorization)
    structlog.contextvars.bind_contextvars(tenant=principal.tenant)  # on the access-log line
    services.limiter.check(principal.tenant)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def reader(principal: PrincipalDep) -> Principal:
    return principal.require("read")


async def submitter(principal: PrincipalDep) -> Principal:
    return principal.require("submit")


async def admin(principal: PrincipalDep) -> Principal:
    return principal.require("admin")


ReaderDep = Annotated[Principal, Depends(reader)]
SubmitterDep = Annotated[Principal, Depends(submitter)]
AdminDep = Annotated[Principal, Depends(admin)]
