"""Where webhooks may go: public addresses only, unless ``PDFQ_WEBHOOK_ALLOW_PRIVATE``.

A webhook URL comes from a client, and the server calls it: without a check it could be made
to call services on its own network (SSRF). The URL's host is checked when the job is
submitted (:func:`check_url`: literal addresses and ``localhost``), and every call checks
again after resolving the name (:class:`PublicOnlyTransport`): it connects to the address it
checked, so a DNS answer that changes between the check and the call (DNS rebinding) cannot
slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx

LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool) -> None:
    """Raise ``ValueError`` when ``url`` plainly points at a private or local host."""
    if allow_private:
        return
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host in LOCAL_NAMES or host.endswith(".localhost"):
        raise ValueError(f"webhook_url may not point at {host} (a local name)")
    try:
        public = is_public(host)
    except ValueError:
        return  # a name: checked after resolution, when the call is made
    if not public:
        raise ValueError(f"webhook_url may not point at {host} (not a public address)")


class _PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host itself, refuses non-public addresses, connects to the one checked."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's signature
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        with anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        blocked = [a for a in addresses if not is_public(a)]
        if not addresses or blocked:
            raise httpcore.ConnectError(
                f"{host} resolves to {', '.join(blocked) or 'nothing'}: webhooks may only call "
                "public addresses (PDFQ_WEBHOOK_ALLOW_PRIVATE allows others)"
            )
        # TLS still checks the certificate against the name (httpcore uses the URL's host).
        return await self._inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections may only reach public addresses."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        # httpx builds its connection pool without a network-backend parameter; the pool's
        # backend is replaced here (a test checks this still guards every call).
        pool._network_backend = _PublicOnlyBackend(pool._network_backend)
