"""The webhook sender's life cycle: stopping it always ends its loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from pdfq.config import Settings
from pdfq.notify.webhooks import WebhookSender
from pdfq.store import Database, upgrade


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
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    try:

        async def scenario() -> bool:
            sender = WebhookSender(make_settings(), db, b"secret")
            try:
                return await _cancel_while_woken(sender)
            finally:
                await sender.stop()

        assert asyncio.run(scenario()), "the sender's loop survived its cancellation"
    finally:
        db.dispose()


def test_repeated_start_and_stop_never_hangs(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(db)
    try:

        async def scenario() -> None:
            for _ in range(20):
                sender = WebhookSender(make_settings(), db, b"secret")
                sender.start()
                sender.wake()
                await asyncio.sleep(0.01)
                await asyncio.wait_for(sender.stop(), 5)

        asyncio.run(scenario())
    finally:
        db.dispose()
