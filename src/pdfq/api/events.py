"""Live job notifications inside the API process, fanned out to every waiting request.

Workers report progress (``page``) and state changes (``job``); the hub delivers each one to
the requests watching that job, so a thousand waiting clients cost one notification, not a
thousand database polls. ``publish`` may be called from any thread.

The hub also remembers the jobs this process has just created and not yet seen end
(``expect_end``): a long poll that comes right after the upload, as clients do, then waits for
the end without reading the job first, one store round trip fewer per job while the worker is
busy claiming it. Only an end notification clears the mark, so a mark is trusted for
``FRESH_SECONDS`` at most: a notification lost on the way (a listener reconnecting) costs the
same one-second re-read as it does for any waiting request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

Notification = tuple[str, dict[str, Any]]

SUBSCRIBER_BUFFER = 256
FRESH_SECONDS = 10.0  # how long "created here, no end seen" is trusted
FRESH_LIMIT = 10_000  # marks kept at most (oldest dropped first)


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
        # job id -> (tenant, monotonic time of creation), oldest first
        self._fresh: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def on_job_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on the event loop whenever a notification may mean a job ended
        (whichever job: the webhook sender looks at its outbox then)."""
        self._end_listeners.append(callback)

    def expect_end(self, job_id: str, tenant: str) -> None:
        """Remember that this process is creating ``job_id`` (call it before the job is
        stored, so that its end cannot be notified before the mark is set)."""
        self._fresh[job_id] = (tenant, time.monotonic())
        while len(self._fresh) > FRESH_LIMIT:
            self._fresh.popitem(last=False)

    def forget(self, job_id: str) -> None:
        """Drop the mark of a job that was not created after all (or was answered at once)."""
        self._fresh.pop(job_id, None)

    def not_ended(self, job_id: str, tenant: str) -> bool:
        """Whether ``tenant``'s job was created here moments ago and no end was notified
        since. Call it after subscribing: an end notified after this answer reaches the
        subscription, one notified before it has already cleared the mark."""
        mark = self._fresh.get(job_id)
        return mark is not None and mark[0] == tenant and time.monotonic() - mark[1] < FRESH_SECONDS

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        """Deliver a notification about ``data["job_id"]`` (thread-safe, never blocks)."""
        ends = may_have_ended((kind, data))
        if ends:
            # Before looking for watchers: a request that subscribes and then finds the mark
            # still set is then sure to be among the watchers seen below.
            self._fresh.pop(data.get("job_id", ""), None)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        watched = data.get("job_id") in self._subscribers
        ending = bool(self._end_listeners) and ends
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
