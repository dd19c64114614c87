"""Live job notifications inside the API process, fanned out to every waiting request.

Workers report progress (``page``) and state changes (``job``); the hub delivers each one to
the requests watching that job, so a thousand waiting clients cost one notification, not a
thousand database polls. ``publish`` may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

Notification = tuple[str, dict[str, Any]]

SUBSCRIBER_BUFFER = 256


class Subscription:
    """Notifications for one job, in order. If a slow reader falls behind, the oldest are
    dropped and ``overflowed`` is set, so the reader knows to re-read the store."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Notification] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self.overflowed = False

    def put(self, item: Notification) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.overflowed = True
        self.queue.put_nowait(item)

    async def get(self, within: float) -> Notification | None:
        """The next notification, or ``None`` after ``within`` seconds."""
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        # that arrives as the item does, leaving the awaiting task running after cancel().
        try:
            async with asyncio.timeout(within):
                return await self.queue.get()
        except TimeoutError:
            return None


class JobEvents:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: dict[str, set[Subscription]] = defaultdict(set)
        self._end_listeners: list[Callable[[], None]] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on_job_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the event loop whenever a notification may mean a job ended
        (whichever job: the webhook sender looks at its outbox then)."""
        self._end_listeners.append(callback)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Deliver a notification about ``data["job_id"]`` (thread-safe, never blocks)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        watched = data.get("job_id") in self._subscribers
        ending = bool(self._end_listeners) and may_have_ended((kind, data))
        if not watched and not ending:  # nobody cares: don't wake the loop
            return
        with contextlib.suppress(RuntimeError):  # the loop is shutting down
            if watched:
                loop.call_soon_threadsafe(self._deliver, kind, data)
            if ending:
                for callback in self._end_listeners:
                    loop.call_soon_threadsafe(callback)

    def _deliver(self, kind: str, data: dict[str, Any]) -> None:
        for subscription in list(self._subscribers.get(data.get("job_id", ""), ())):
            subscription.put((kind, data))

    @asynccontextmanager
    async def subscribe(self, job_id: str) -> AsyncIterator[Subscription]:
        subscription = Subscription()
        self._subscribers[job_id].add(subscription)
        try:
            yield subscription
        finally:
            watchers = self._subscribers.get(job_id)
            if watchers is not None:
                watchers.discard(subscription)
                if not watchers:
                    del self._subscribers[job_id]

    @property
    def watched_jobs(self) -> int:
        return len(self._subscribers)


ENDING_EVENTS = frozenset({"succeeded", "failed", "canceled", "deleted"})


def may_have_ended(note: Notification) -> bool:
    """Whether a notification can mean its job ended (else a watcher need not re-read it)."""
    kind, data = note
    if kind != "job":
        return False
    if "status" in data:  # from the local dispatcher
        return data["status"] in ENDING_EVENTS or data["status"] is None
    return bool(ENDING_EVENTS.intersection(data.get("events", ())))
