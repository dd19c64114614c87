"""Named FastAPI dependencies shared by the route modules.

They are ``async`` on purpose: FastAPI runs a plain ``def`` dependency in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from pdfq.api.services import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their tenant and what they may do."""

    tenant: str
    scopes: frozenset[str]


ALL_SCOPES = frozenset({"submit", "read", "admin"})
ANONYMOUS = Principal(tenant="default", scopes=ALL_SCOPES)


async def get_principal() -> Principal:
    return ANONYMOUS


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
