"""Small bodies are parsed on the loop (a thread hop costs more than it saves), large ones not."""

from __future__ import annotations

import threading

from cds_service.app.off_loop import INLINE_BYTES, off_loop_if_large, parse_threads


async def test_a_small_body_is_worked_on_the_loop_and_a_large_one_in_a_thread():
    limiter = parse_threads()
    loop_thread = threading.get_ident()

    def where(body: bytes) -> int:
        return threading.get_ident()

    small, large = b"x" * INLINE_BYTES, b"x" * (INLINE_BYTES + 1)
    assert await off_loop_if_large(limiter, small, where, small) == loop_thread
    assert await off_loop_if_large(limiter, large, where, large) != loop_thread
