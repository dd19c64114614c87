"""Webhook delivery: the sender that empties the outbox (``store/webhooks.py``).

Every API process runs one :class:`WebhookSender` on its event loop. It claims due deliveries
from the store (a compare-and-set, so several API hosts never send one attempt twice), POSTs
the final job JSON signed with :func:`~pdfq.notify.signing.sign`, and records each attempt's
outcome: delivered on a 2xx answer, else retried after an exponential back-off with jitter
until ``PDFQ_WEBHOOK_MAX_ATTEMPTS``. Redirects are not followed (a 3xx is a failed attempt),
and a client's URL may only reach public addresses (``notify/addresses.py``).

It sleeps until the next delivery is due, and wakes early when a job ends in this process or,
on PostgreSQL, anywhere. Deliveries live in the store, so a restart only delays them.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

import pdfq
from pdfq.config import Settings
from pdfq.errors import PdfqError
from pdfq.notify.addresses import PublicOnlyTransport
from pdfq.notify.signing import SIGNATURE_HEADER, sign
from pdfq.store import Database
from pdfq.store import webhooks as outbox
from pdfq.store.webhooks import Delivery

log = structlog.get_logger(__name__)

IDLE_SECONDS = 5.0  # longest sleep between two looks at the outbox
WAKE_DELAY = 0.2  # ending jobs wake the sender at most this often
HOLD_MARGIN_SECONDS = 30.0  # a claimed attempt is another sender's only after its time + this


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Wait after failed attempt ``attempt`` (1-based): ``base`` doubled per attempt, capped,
    with jitter so receivers coming back are not hit by every sender at once."""
    return float(min(cap, base * 2.0 ** (attempt - 1)) * (0.5 + random.random() / 2))


def headers_for(delivery: Delivery, body: bytes, secret: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": f"pdfq/{pdfq.__version__}",
        "X-Pdfq-Event": delivery.event,
        "X-Pdfq-Delivery": delivery.id,
        "X-Pdfq-Attempt": str(delivery.attempts),
        SIGNATURE_HEADER: sign(secret, body),
    }


class WebhookSender:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        secret: bytes,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self._secret = secret
        limits = httpx.Limits(max_connections=settings.webhook_concurrency)
        options: dict[str, Any] = {
            "follow_redirects": False,
            "timeout": settings.webhook_timeout_seconds,
            "limits": limits,
        }
        # Clients' URLs may only reach public addresses; the operator's default is trusted.
        guarded = transport
        if guarded is None and not settings.webhook_allow_private:
            guarded = PublicOnlyTransport(limits=limits)
        self._client = httpx.AsyncClient(transport=guarded, **options)
        self._trusted = httpx.AsyncClient(transport=transport, **options)
        self._slots = asyncio.Semaphore(settings.webhook_concurrency)
        self._free = settings.webhook_concurrency
        self._wake = asyncio.Event()
        self._wake_pending = False
        self._task: asyncio.Task[None] | None = None
        self._sending: dict[asyncio.Task[None], Delivery] = {}

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pdfq-webhooks")

    async def stop(self) -> None:
        # Taken before cancelling: a finished send leaves ``_sending`` at once.
        interrupted = list(self._sending.values())
        tasks = [t for t in (self._task, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # Attempts cut short have no outcome: due again now, not after their hold. (An
        # attempt that recorded its outcome meanwhile is no longer this attempt: a no-op.)
        await self._release(interrupted)
        await self._client.aclose()
        await self._trusted.aclose()

    async def _release(self, taken: list[Delivery]) -> None:
        """Give back attempts that were taken but will not be made: due again at once."""
        for delivery in taken:
            with contextlib.suppress(PdfqError):
                await asyncio.to_thread(
                    outbox.release, self.db, delivery=delivery, now=datetime.now(UTC)
                )

    def wake(self) -> None:
        """Look at the outbox soon (a job ended). Call on the event loop. Wake-ups are
        coalesced: a burst of ending jobs costs one look, :data:`WAKE_DELAY` later, not a
        store read per job."""
        if self._wake_pending:
            return
        self._wake_pending = True
        asyncio.get_running_loop().call_later(WAKE_DELAY, self._wake_now)

    def _wake_now(self) -> None:
        self._wake_pending = False
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                pause = await self._send_due()
            except PdfqError as exc:  # the store hiccupped: look again a little later
                log.warning("webhook outbox unavailable", error=exc.message)
                pause = IDLE_SECONDS
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation that stop() sends when it races with the timeout, and this loop
            # (and the server's shutdown, which awaits it) then never ends.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()
            self._wake.clear()

    async def _send_due(self) -> float:
        """Start the due deliveries there are free slots for; returns how long to sleep."""
        if self._free > 0:
            hold = self.settings.webhook_timeout_seconds + HOLD_MARGIN_SECONDS
            claiming = asyncio.ensure_future(
                asyncio.to_thread(
                    outbox.claim_due,
                    self.db,
                    now=datetime.now(UTC),
                    hold_seconds=hold,
                    limit=self._free,
                )
            )
            try:
                due = await asyncio.shield(claiming)
            except asyncio.CancelledError:
                # stop() came while the store handed deliveries out: the thread takes them
                # all the same, and none is in ``_sending`` for stop() to give back.
                with contextlib.suppress(PdfqError):
                    await self._release(await claiming)
                raise
            for delivery in due:
                self._free -= 1
                task = asyncio.create_task(self._attempt(delivery))
                self._sending[task] = delivery
                task.add_done_callback(self._sent)
            if due and self._free > 0:
                return 0.0  # there may be more
        if self._free == 0:
            return IDLE_SECONDS  # a finished call wakes the loop
        next_due = await asyncio.to_thread(outbox.next_due, self.db)
        if next_due is None:
            return IDLE_SECONDS
        return max(0.0, min(IDLE_SECONDS, (next_due - datetime.now(UTC)).total_seconds()))

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.pop(task, None)
        self._free += 1
        self._wake.set()

    async def _attempt(self, delivery: Delivery) -> None:
        body = delivery.payload.encode()
        started = time.monotonic()
        error: str | None = None
        status_code = 0
        client = self._trusted if delivery.url == self.settings.webhook_url else self._client
        try:
            answer = await client.post(
                delivery.url, content=body, headers=headers_for(delivery, body, self._secret)
            )
            status_code = answer.status_code
            if not 200 <= status_code < 300:
                error = f"the receiver answered HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        seconds = time.monotonic() - started
        now = datetime.now(UTC)
        try:
            if error is None:
                await asyncio.to_thread(
                    outbox.record_delivered,
                    self.db,
                    delivery=delivery,
                    status_code=status_code,
                    seconds=seconds,
                    now=now,
                )
                log.info("webhook delivered", job_id=delivery.job_id, attempt=delivery.attempts)
                return
            retry_at = None
            if delivery.attempts < self.settings.webhook_max_attempts:
                wait = backoff_seconds(
                    delivery.attempts,
                    base=self.settings.webhook_backoff_seconds,
                    cap=self.settings.webhook_backoff_max_seconds,
                )
                retry_at = now + timedelta(seconds=wait)
            await asyncio.to_thread(
                outbox.record_failed,
                self.db,
                delivery=delivery,
                error=error[:500],
                retry_at=retry_at,
                now=now,
            )
            log.warning(
                "webhook attempt failed",
                job_id=delivery.job_id,
                attempt=delivery.attempts,
                error=error,
                gave_up=retry_at is None,
            )
        except PdfqError as exc:  # not recorded: the hold runs out and the attempt is made again
            log.warning("could not record a webhook attempt", error=exc.message)
