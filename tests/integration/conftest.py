"""Fixtures of the integration tests: a worker context on a private store and blobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pdfq.config import Settings
from pdfq.store import upgrade
from pdfq.worker.context import WorkerContext, build_worker_context


@pytest.fixture
def make_ctx(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., WorkerContext]]:
    made: list[WorkerContext] = []

    def make(**overrides: Any) -> WorkerContext:
        ctx = build_worker_context(make_settings(**overrides))
        upgrade(ctx.db)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.db.dispose()


@pytest.fixture
def ctx(make_ctx: Callable[..., WorkerContext]) -> WorkerContext:
    return make_ctx()
