"""The API's notification hub: which jobs it still expects to end (created here, no end seen),
and that an end notified from another thread reaches a request that trusted such a mark."""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, defaultdict
from typing import Any

import pytest

from pdfq.api import events as hub
from pdfq.api.events import JobEvents, Subscription


def test_a_job_created_here_is_expected_to_end_for_its_own_tenant_only() -> None:
    events = JobEvents()
    events.expect_end("j1", "acme")
    assert events.not_ended("j1", "acme")
    assert not events.not_ended("j1", "other")
    assert not events.not_ended("j2", "acme")
    events.forget("j1")
    assert not events.not_ended("j1", "acme")


@pytest.mark.parametrize(
    ("kind", "data", "clears"),
    [
        ("job", {"job_id": "j1", "status": "succeeded"}, True),  # the local dispatcher
        ("job", {"job_id": "j1", "status": "canceled"}, True),
        ("job", {"job_id": "j1", "status": None}, True),  # deleted
        ("job", {"job_id": "j1", "events": ["started", "failed"]}, True),  # PostgreSQL
        ("job", {"job_id": "j1", "status": "running"}, False),
        ("job", {"job_id": "j1", "events": ["started"]}, False),
        ("page", {"job_id": "j1", "done": 3}, False),
        ("job", {"job_id": "j2", "status": "succeeded"}, False),  # another job's end
    ],
)
def test_only_an_end_of_the_job_clears_its_mark(
    kind: str, data: dict[str, object], clears: bool
) -> None:
    events = JobEvents()  # no loop bound yet, nobody watching: the mark still goes
    events.expect_end("j1", "acme")
    events.publish(kind, data)
    assert events.not_ended("j1", "acme") is not clears


def test_a_mark_is_trusted_for_a_few_seconds_only(monkeypatch: pytest.MonkeyPatch) -> None:
    events = JobEvents()
    events.expect_end("j1", "acme")
    monkeypatch.setattr(hub, "FRESH_SECONDS", 0.0)
    assert not events.not_ended("j1", "acme")


def test_the_oldest_marks_go_first_beyond_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "FRESH_LIMIT", 3)
    events = JobEvents()
    for n in range(5):
        events.expect_end(f"j{n}", "acme")
    assert [events.not_ended(f"j{n}", "acme") for n in range(5)] == [
        False,
        False,
        True,
        True,
        True,
    ]


async def test_an_end_notified_from_a_thread_reaches_a_request_that_trusted_the_mark() -> None:
    events = JobEvents()
    events.bind(asyncio.get_running_loop())
    events.expect_end("j1", "acme")
    async with events.subscribe("j1") as subscription:
        assert events.not_ended("j1", "acme")  # so the request waits without reading
        threading.Thread(
            target=events.publish, args=("job", {"job_id": "j1", "status": "succeeded"})
        ).start()
        note = await subscription.get(5.0)
    assert note == ("job", {"job_id": "j1", "status": "succeeded"})
    assert not events.not_ended("j1", "acme")


def test_an_end_clears_the_mark_before_looking_for_watchers() -> None:
    """The order a request relies on when it subscribes, then trusts a mark it still finds:
    had ``publish`` looked for watchers first, it could miss that request and then clear the
    mark, leaving the request waiting for an end already gone by."""
    steps: list[str] = []

    class Marks(OrderedDict[str, tuple[str, float]]):
        def pop(self, *args: Any) -> Any:
            steps.append("mark cleared")
            return super().pop(*args)

    class Watchers(defaultdict[str, set[Subscription]]):
        def __contains__(self, job_id: object) -> bool:
            steps.append("watchers looked up")
            return super().__contains__(job_id)

    loop = asyncio.new_event_loop()
    try:
        events = JobEvents()
        events.bind(loop)
        events._fresh = Marks()
        events._subscribers = Watchers(set)
        events.expect_end("j1", "acme")
        events.publish("job", {"job_id": "j1", "status": "succeeded"})
    finally:
        loop.close()
    assert steps == ["mark cleared", "watchers looked up"]
