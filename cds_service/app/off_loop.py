"""CPU work on a large request body, run in a small thread pool so the event loop keeps answering.

Decoding a megabyte of JSON, walking it and validating it against a schema takes tens to
hundreds of milliseconds of pure Python. On the event loop that time is stolen from every other
connection, health checks included; in a thread the GIL is handed back to the loop every few
milliseconds (``sys.getswitchinterval``), so ``/livez`` and small calls keep being answered.

A small body is parsed on the loop: the hop to a thread and back costs ≈60 µs of CPU and more
of latency, as much as parsing a 40 KB patient-view, for no gain in responsiveness.
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


#: Bodies up to this size are parsed on the loop (≈1 ms at most; the call's own evaluation
#: runs on the loop anyway, and takes longer).
INLINE_BYTES = 128 * 1024


def parse_threads() -> CapacityLimiter:
    return CapacityLimiter(PARSE_THREADS)


async def off_loop(limiter: CapacityLimiter, work: Callable[..., _T], *args: Any) -> _T:
    """``work(*args)`` in a worker thread, at most ``limiter``'s tokens at once."""
    return await anyio.to_thread.run_sync(functools.partial(work, *args), limiter=limiter)


async def off_loop_if_large(
    limiter: CapacityLimiter, body: bytes, work: Callable[..., _T], *args: Any
) -> _T:
    """``work(*args)`` for ``body``: on the loop if the body is small, else in a worker thread."""
    if len(body) <= INLINE_BYTES:
        return work(*args)
    return await off_loop(limiter, work, *args)
