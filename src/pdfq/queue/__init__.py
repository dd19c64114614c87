"""The job queue: the :class:`Queue` protocol and its factory.

The queue carries job ids and nothing else; the store is the truth (DESIGN invariant 1).
Kinds: ``local`` (an in-process dispatcher feeding a pool of worker processes, embedded
default) and ``celery`` (Celery workers over Redis or RabbitMQ).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pdfq.config import Settings
    from pdfq.store import Database

Notify = Callable[[str, dict[str, Any]], None]
"""Receives live notifications from workers: ``("pages", {...})``, ``("job", {...})``."""


class Queue(Protocol):
    announces_ends: bool
    """Whether the end of every job reaches ``notify`` (a message lost on the way aside)."""

    def start(self) -> None:
        """Begin dispatching (and, for the local kind, start the worker processes)."""
        ...

    def stop(self, grace_seconds: float = 10.0) -> None:
        """Stop; running jobs get ``grace_seconds`` to finish, then are handed back."""
        ...

    def enqueue(self, job_id: str, *, priority: int = 0) -> None:
        """Tell workers a queued job is waiting (blocking; call from a thread in async code)."""
        ...

    def cancel(self, job_id: str) -> None:
        """Interrupt the job if it is running (its status is already ``canceled``)."""
        ...

    def check(self) -> None:
        """Raise :class:`~pdfq.errors.Unavailable` unless jobs can be processed."""
        ...


def open_queue(settings: Settings, db: Database, notify: Notify | None = None) -> Queue:
    """The queue named by ``PDFQ_QUEUE`` (imported lazily)."""
    if settings.queue == "local":
        from pdfq.queue.local import LocalQueue

        return LocalQueue(settings, db, notify=notify)
    from pdfq.queue.celery import CeleryQueue

    return CeleryQueue(settings, db, notify=notify)


__all__ = ["Notify", "Queue", "open_queue"]
