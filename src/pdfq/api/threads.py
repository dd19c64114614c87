"""Running blocking calls (store, blobs, broker) off the event loop.

One executor for the whole API process, used through :func:`blocking`. It is leaner per call
than anyio's ``to_thread`` (no capacity-limiter bookkeeping on each hop), which shows at a
few thousand requests per second on two cores.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="pdfq-io")


async def blocking(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` in the I/O thread pool and await its result."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(fn, *args, **kwargs))
