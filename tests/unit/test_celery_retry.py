"""The Celery task's retry after the store failed an attempt: it names the work claimed and
the process that held it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from pdfq.errors import Unavailable
from pdfq.queue import celery as celery_queue
from pdfq.store.jobs import Claim


class _Retry(Exception):
    pass


class _Task:
    def __init__(self) -> None:
        self.request = SimpleNamespace(retries=0)
        self.asked: dict[str, Any] = {}

    def retry(self, **kwargs: Any) -> Exception:
        self.asked = kwargs
        return _Retry()


@pytest.mark.parametrize(
    ("claim", "args"),
    [
        # A job message is a turn: the one naming job A may have claimed job B.
        (Claim(job_id="B", attempt=1), ["B", 1, "host:7"]),
        (Claim(job_id="B", attempt=2, chunk=3), ["B", 3, 2, "host:7"]),
    ],
)
def test_the_retry_names_the_claimed_work(
    monkeypatch: pytest.MonkeyPatch, claim: Claim, args: list[Any]
) -> None:
    def store_down(ctx: Any, claim: Claim) -> Any:
        raise Unavailable("database unavailable")

    monkeypatch.setattr(celery_queue, "process_job", store_down)
    task = _Task()
    with pytest.raises(_Retry):
        celery_queue._run(task, SimpleNamespace(owner="host:7"), claim)  # type: ignore[arg-type]
    assert task.asked["args"] == args
    assert task.asked["max_retries"] == celery_queue.TRANSIENT_RETRIES


def test_a_retried_attempt_is_given_back_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    def step(name: str) -> Any:
        def record(ctx: Any, claim: Claim, *owner: str | None) -> Any:
            ran.append(f"{name} {owner[0]}" if owner else name)
            return SimpleNamespace(status=None)

        return record

    monkeypatch.setattr(celery_queue, "process_job", step("run"))
    monkeypatch.setattr(celery_queue, "give_back_after_store_failure", step("given back"))
    claim = Claim(job_id="A", attempt=1)
    celery_queue._run(_Task(), None, claim, resumed=True, owner="host:7")  # type: ignore[arg-type]
    celery_queue._run(_Task(), None, claim)  # type: ignore[arg-type]
    assert ran == ["given back host:7", "run"]
