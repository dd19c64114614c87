"""pdfq: an asynchronous PDF ingestion service, and its Python client.

``pdfq.Client`` and ``pdfq.AsyncClient`` (see :mod:`pdfq.client`) are imported on first use,
so worker processes that never talk HTTP do not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pdfq.client import AsyncClient, Client

__all__ = ["AsyncClient", "Client", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("Client", "AsyncClient"):
        from pdfq import client

        return getattr(client, name)
    raise AttributeError(f"module 'pdfq' has no attribute {name!r}")
