"""CPU work on a request body, run in a small thread pool so the event loop keeps answering.

Decoding a megabyte of JSON, walking it and validating it against a schema takes tens to
hundreds of milliseconds of pure Python. On the event loop that time is stolen from every other
connection, health checks included; in a thread the GIL is handed back to the loop every few
milliseconds (``sys.getswitchinterval``), so ``/livez`` and small calls keep being answered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

_T = TypeVar("_T")

#: Bodies parsed at once. The GIL runs one at a time anyway, and a C call (orjson decoding a
#: megabyte) holds it throughout: each more thread is one more such call the loop may wait
#: behind. Two keep a small call from queueing behind a single large one.
PARSE_THREADS = 2


def parse_threads() -> CapacityLimiter:
    return CapacityLimiter(PARSE_THREADS)


async def off_loop(limiter: CapacityLimiter, work: Callable[..., _T], *args: Any) -> _T:
    """``work(*args)`` in a worker thread, at most ``limiter``'s tokens at once."""
    return await anyio.to_thread.run_sync(functools.partial(work, *args), limiter=limiter)
