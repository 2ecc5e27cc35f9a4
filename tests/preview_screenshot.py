"""Take the README's screenshot of the preview page (the cauda-equina example).

    .venv/bin/python -m tests.preview_screenshot      # writes docs/images/preview-cauda-equina.png

The same set-up as the browser test: the real app under uvicorn on a free loopback port, Debian's
chromium under Playwright. The app's clock is the README's date, so the picture shows what the
README's outputs show.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.browser import chromium, wait_for_answer
from tests.examples import README_NOW, ROOT
from tests.live_server import serve

TARGET = ROOT / "docs" / "images" / "preview-cauda-equina.png"
EXAMPLE = "patient-view-cauda-equina"
#: Wide enough for the three columns, tall enough for the cauda-equina card's buttons.
VIEWPORT = {"width": 1280, "height": 1230}


async def screenshot(target: Path) -> None:
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data), auth_required=False, log_level="WARNING")
        app = create_app(settings, clock=lambda: README_NOW)
        async with serve(app) as base_url, chromium() as browser:
            page = await browser.new_page(viewport=VIEWPORT)
            await page.goto(f"{base_url}/")
            await wait_for_answer(page, 1)
            await page.select_option("#example", EXAMPLE)
            await wait_for_answer(page, 2)
            target.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=target)


def main() -> int:
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET
    asyncio.run(screenshot(target))
    print(f"wrote {target} ({target.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
