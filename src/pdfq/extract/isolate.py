"""One page's stages run in isolation: a failing stage costs the page that stage, not the job.

Each optional stage of a page (its text positions, drawing, reading order, tables, images,
blocks, Markdown) runs through :func:`guarded`: an exception becomes a warning on the page
that names the stage, and the page goes on with the stage's fallback (at least its plain
text). Errors that are about the job, not the page (a time-out or a cancel raised from
inside, a storage outage), pass through. :class:`StageClock` adds up the time per stage (the
benchmarks' breakdown) and keeps a page's time budget: a stage that would start after the
page has spent it is skipped with a warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from pdfq.errors import ProcessingError, TransientError

T = TypeVar("T")

log = structlog.get_logger(__name__)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass(slots=True)
class StageClock:
    """Seconds spent per stage (summed over pages) and the current page's budget."""

    page_budget: float = 60.0
    seconds: dict[str, float] = field(default_factory=dict)
    page_started: float = field(default_factory=time.perf_counter)

    def new_page(self) -> None:
        self.page_started = time.perf_counter()

    def spent(self) -> float:
        return time.perf_counter() - self.page_started

    def add(self, stage: str, since: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - since


def guarded(
    stage: str,
    run: Callable[[], T],
    fallback: Callable[[], T],
    warnings: list[str],
    clock: StageClock | None = None,
    *,
    optional: bool = True,
) -> T:
    """``run()``, or ``fallback()`` with a warning when it raises (or, for an ``optional``
    stage, when the page's time budget is already spent)."""
    started = time.perf_counter()
    try:
        if optional and clock is not None and clock.spent() > clock.page_budget:
            warnings.append(
                f"{stage} skipped: the page's time budget ({clock.page_budget:g} s) was spent"
            )
            return fallback()
        return run()
    except (ProcessingError, TransientError):
        raise  # about the job (time-out, cancel, storage), not this page
    except Exception as exc:
        log.warning("page stage failed", stage=stage, error=describe(exc), exc_info=True)
        warnings.append(f"{stage} failed ({describe(exc)})")
        return fallback()
    finally:
        if clock is not None:
            clock.add(stage, started)


__all__ = ["StageClock", "describe", "guarded"]
