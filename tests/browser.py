"""Debian's chromium under Playwright, for the preview page's tests and its README screenshot.

Playwright only drives the browser: it never downloads one (never run ``playwright install``).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from tests.prerequisites import unavailable

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

#: Quiet, offline, sandbox-free headless chromium (the tests run as root in a container).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """The system chromium, or the test is skipped (failed under CI) saying how to install it."""
    path = shutil.which("chromium")
    if path is None:
        unavailable("chromium is not installed (Debian package chromium)")
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=FLAGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


async def wait_for_answer(page: Page, count: int) -> None:
    """Until the page has shown its ``count``-th answer (cards or an error)."""
    # A selector, not wait_for_function: the page's CSP forbids the eval that would need.
    await page.wait_for_selector(f"body[data-answers='{count}']", state="attached", timeout=30_000)
