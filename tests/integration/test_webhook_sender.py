"""The webhook sender's life cycle: stopping it always ends its loop and hands back the
attempts it cut short."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pdfq.config import Settings
from pdfq.notify.webhooks import WebhookSender
from pdfq.store import Database, upgrade
from pdfq.store import jobs as repo
from pdfq.store import webhooks as outbox
from tests.helpers import new_job


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Database]:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    yield db
    db.dispose()


def pending_delivery(db: Database) -> str:
    """A job with one webhook delivery due now; returns the job's id."""
    job = new_job()
    repo.create_job(db, new=job)
    with db.write() as conn:
        outbox.enqueue(
            conn,
            job_id=job.id,
            url="http://receiver.test/hook",
            event="job.succeeded",
            payload="{}",
            now=datetime.now(UTC),
        )
    return job.id


def assert_held(db: Database, job_id: str) -> None:
    """The job's delivery is taken for an attempt (due again only after a long hold)."""
    (held,) = outbox.list_deliveries(db, job_id=job_id)
    assert held.next_attempt_at > datetime.now(UTC) + timedelta(seconds=30)


def assert_given_back(db: Database, job_id: str) -> None:
    """The job's delivery is pending and due again at once, not after the hold of the
    attempt a stop cut short."""
    (delivery,) = outbox.list_deliveries(db, job_id=job_id)
    assert delivery.status == "pending"
    assert delivery.next_attempt_at <= datetime.now(UTC)


async def _cancel_while_woken(sender: WebhookSender) -> bool:
    """Whether the sender's loop ended after one cancellation."""

    async def nothing_due() -> float:
        return 30.0

    sender._send_due = nothing_due  # type: ignore[method-assign]  # no store reads needed
    sender.start()
    await asyncio.sleep(0.05)  # the loop now waits for a wake-up
    task = sender._task
    assert task is not None
    # A wake-up and a stop in the same turn of the loop: Python 3.11's wait_for returns the
    # wake-up and swallows the cancellation, and the loop (and a server's shutdown) never ends.
    sender._wake.set()
    task.cancel()
    await asyncio.wait({task}, timeout=2)
    return task.cancelled()


def test_a_stop_racing_a_wake_up_still_ends_the_loop(
    make_settings: Callable[..., Settings], store: Database
) -> None:
    async def scenario() -> bool:
        sender = WebhookSender(make_settings(), store, b"secret")
        try:
            return await _cancel_while_woken(sender)
        finally:
            await sender.stop()

    assert asyncio.run(scenario()), "the sender's loop survived its cancellation"


def test_repeated_start_and_stop_never_hangs(
    make_settings: Callable[..., Settings], store: Database
) -> None:
    async def scenario() -> None:
        for _ in range(20):
            sender = WebhookSender(make_settings(), store, b"secret")
            sender.start()
            sender.wake()
            await asyncio.sleep(0.01)
            await asyncio.wait_for(sender.stop(), 5)

    asyncio.run(scenario())


def test_a_stop_hands_back_the_attempts_it_cut_short(
    make_settings: Callable[..., Settings], store: Database
) -> None:
    called = asyncio.Event()

    async def never_answers(_request: httpx.Request) -> httpx.Response:
        called.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    job_id = pending_delivery(store)
    settings = make_settings(webhook_allow_private=True, webhook_timeout_seconds=60)

    async def scenario() -> None:
        transport = httpx.MockTransport(never_answers)
        sender = WebhookSender(settings, store, b"secret", transport=transport)
        sender.start()
        await asyncio.wait_for(called.wait(), 10)  # the attempt is in flight, held ~60 s
        assert_held(store, job_id)
        await asyncio.wait_for(sender.stop(), 10)

    asyncio.run(scenario())
    assert_given_back(store, job_id)


def test_a_stop_while_the_store_hands_out_deliveries_gives_them_back(
    make_settings: Callable[..., Settings], store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The claim runs in a thread: a stop arriving meanwhile cancels the loop's wait, not the
    # thread, which still takes the delivery for its hold.
    claimed = threading.Event()
    real_claim_due = outbox.claim_due

    def slow_claim_due(*args: Any, **kwargs: Any) -> list[outbox.Delivery]:
        taken = real_claim_due(*args, **kwargs)
        if taken:
            claimed.set()
            time.sleep(0.5)  # the stop lands here
        return taken

    monkeypatch.setattr(outbox, "claim_due", slow_claim_due)
    job_id = pending_delivery(store)
    settings = make_settings(webhook_allow_private=True, webhook_timeout_seconds=60)

    async def scenario() -> None:
        sender = WebhookSender(settings, store, b"secret")
        sender.start()
        assert await asyncio.to_thread(claimed.wait, 10)
        assert_held(store, job_id)
        await asyncio.wait_for(sender.stop(), 10)

    asyncio.run(scenario())
    assert_given_back(store, job_id)
