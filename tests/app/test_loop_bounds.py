"""No request blocks the event loop: hostile bodies are refused before the costly work, and what
work remains runs off the loop, so ``/livez`` keeps answering meanwhile.

Against ``cds-service serve`` in its own process, over real HTTP: the probe measures the server's
loop, not the test's. The bounds are generous security properties, not benchmarks.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from cds_service.protocol.request_parser import RequestLimits
from cds_service.resources import data_dir
from tests.app.test_application import CASES, hook_request
from tests.served import Served, served

SERVICE = "/cds-services/radix-lumbar-radiculopathy"
FEEDBACK = f"{SERVICE}/feedback"
JSON = {"Content-Type": "application/json"}
#: How long /livez may take while hostile requests are being processed.
LIVEZ_BOUND = 0.5
#: How long a hostile request may take to be refused (it takes milliseconds; CI machines vary).
REFUSAL_BOUND = 10.0


def _null_prefetch_keys(count: int) -> bytes:
    body = hook_request(CASES["ces-retention"])
    body["prefetch"] = {f"k{n}": None for n in range(count)}
    return orjson.dumps(body)


def _costly_valid_request() -> bytes:
    """A real call whose ``extension`` holds 100,000 small nested arrays: valid (extensions are
    free-form), within every limit, and about a second of decoding and walking."""
    body = hook_request(CASES["ces-retention"])
    body["extension"] = {"org.example.padding": [[[[[]]]]] * 100_000}
    return orjson.dumps(body)


async def _timed_post(client: httpx.AsyncClient, path: str, body: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(path, content=body, headers=JSON)
    return response.status_code, time.perf_counter() - started


async def _post_while_probing(
    base_url: str, path: str, body: bytes, count: int
) -> tuple[list[tuple[int, float]], list[float]]:
    """POST ``body`` ``count`` times at once; meanwhile probe /livez every 20 ms.

    Returns each POST's status and duration, and each probe's latency.
    """
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=120) as client,
        httpx.AsyncClient(base_url=base_url, timeout=60) as probe,
    ):
        work = asyncio.gather(*(_timed_post(client, path, body) for _ in range(count)))
        latencies = []
        while not work.done():
            started = time.perf_counter()
            response = await probe.get("/livez")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200
            await asyncio.sleep(0.02)
        return await work, latencies


@pytest.fixture
def radix(tmp_path: Path) -> Iterator[Served]:
    with served(tmp_path / "data", rate_limit_per_minute="0") as server:
        yield server


async def test_60000_null_prefetch_keys_are_refused_quickly_while_livez_answers(radix):
    body = _null_prefetch_keys(60_000)
    assert len(body) < 1_048_576  # under the default body limit: only the key count refuses it
    results, latencies = await _post_while_probing(radix.base_url, SERVICE, body, 6)
    assert max(latencies) < LIVEZ_BOUND, latencies
    for status, took in results:
        assert status == 413 and took < REFUSAL_BOUND


async def test_100000_feedback_items_are_refused_quickly_while_livez_answers(radix):
    body = orjson.dumps({"feedback": [{}] * 100_000})
    results, latencies = await _post_while_probing(radix.base_url, FEEDBACK, body, 4)
    assert max(latencies) < LIVEZ_BOUND, latencies
    for status, took in results:
        assert status == 413 and took < REFUSAL_BOUND


@pytest.mark.parametrize("path", [SERVICE, "/preview/evaluate"])
async def test_costly_valid_requests_are_parsed_off_the_loop(radix, path):
    """Four of them at once are answered, and /livez never waits for them (the preview page,
    which needs no token, parses pasted requests the same way)."""
    body = _costly_valid_request()
    assert len(body) < 1_048_576
    results, latencies = await _post_while_probing(radix.base_url, path, body, 4)
    assert max(latencies) < LIVEZ_BOUND, latencies
    assert [status for status, _ in results] == [200] * 4


def test_the_schemas_bound_prefetch_and_context_as_the_parser_does():
    """``maxProperties`` documents the limit for clients; the parser enforces it first."""
    schema = json.loads((data_dir("hooks") / "cds-request.schema.json").read_text())
    limits = RequestLimits()
    assert schema["properties"]["prefetch"]["maxProperties"] == limits.max_prefetch_keys
    assert schema["properties"]["context"]["maxProperties"] == limits.max_context_members
    feedback = json.loads((data_dir("hooks") / "feedback.schema.json").read_text())
    assert feedback["properties"]["feedback"]["maxItems"] == limits.max_feedback_items
