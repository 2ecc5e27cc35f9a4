"""What a test needs from the machine, and what happens when the machine lacks it.

A user's machine may have no Redis, PostgreSQL or Chromium: tests that need one skip with a
one-line reason naming what is missing. CI sets ``RADIX_TEST_NO_SKIP=1``; there a missing
prerequisite fails the test instead, so nothing CI promises is skipped silently.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

NO_SKIP = os.environ.get("RADIX_TEST_NO_SKIP", "").strip().lower() in ("1", "true", "yes")


def unavailable(reason: str) -> NoReturn:
    """Skip the test because ``reason`` (e.g. "redis-server is not on PATH"); fail under CI."""
    if NO_SKIP:
        pytest.fail(f"{reason} (RADIX_TEST_NO_SKIP is set: this may not be skipped)")
    pytest.skip(reason)
