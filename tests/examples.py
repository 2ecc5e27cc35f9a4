"""The shipped ``examples/``, and what the engine answers to them (the reference for the tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from cds_service.app.application import build_advisor, new_fhir_client
from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "examples"
INDEX = json.loads((FOLDER / "index.json").read_text(encoding="utf-8"))["examples"]
#: example id (file name without .json) -> the request
EXAMPLES: dict[str, dict[str, Any]] = {
    item["file"].removesuffix(".json"): json.loads((FOLDER / item["file"]).read_text("utf-8"))
    for item in INDEX
}
#: The instant the README's outputs were produced at (and the examples are set on).
README_NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def real_now() -> datetime:
    return datetime.now(UTC)


async def engine_answer(
    request: dict[str, Any], now: Callable[[], datetime] = real_now, **settings: Any
) -> dict[str, Any]:
    """What the ``Advisor`` answers to ``request`` (no HTTP, no FHIR server: prefetch only)."""
    configured = Settings(**{"auth_required": False, **settings})
    async with new_fhir_client(configured) as fhir:
        advisor = build_advisor(configured, fhir, now)
        service = advisor.service_for_hook(request["hook"])
        advice = await advisor.advise(service.id, orjson.dumps(request))
    return {
        "response": advice.response,
        "assessment": advice.evaluation.assessment.to_extension(),
    }
