"""The body budget: how many bytes of request bodies a process holds decoded at once.

The budget itself on an event loop (turns, arrival order, a body larger than the budget, a wait
that runs out, a caller that goes away), then ``cds-service serve`` over real HTTP with a FHIR
server that answers slowly: the server sees no more calls at once than the budget lets through,
every call is answered, and a call whose turn does not come is a 503 ``busy`` with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cds_service.app.body_budget import BodyBudget
from cds_service.errors import Busy
from tests.app.test_application import CASES, hook_request
from tests.live_server import serve
from tests.served import Served, served

SERVICE = "/cds-services/radix-lumbar-radiculopathy"
JSON = {"Content-Type": "application/json"}


def _waits() -> float:
    return REGISTRY.get_sample_value("radix_body_budget_waits_total") or 0.0


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def _in_line(budget: BodyBudget, *sizes: int) -> list[asyncio.Task[int]]:
    """Calls asking for ``sizes``, in that order, each at its place by the time this returns."""
    calls = [asyncio.create_task(budget.acquire(size)) for size in sizes]
    await _settle()
    return calls


# --- The budget on one event loop ---------------------------------------------------------------


async def test_calls_within_the_budget_run_at_once_and_give_their_share_back() -> None:
    budget = BodyBudget(100, wait_seconds=1)

    first, second = await budget.acquire(60), await budget.acquire(40)

    assert (first, second, budget.held) == (60, 40, 100)
    budget.release(first)
    budget.release(second)
    assert budget.held == 0
    # An empty body still takes a turn (its call decodes something, if only to refuse it).
    assert await budget.acquire(0) == 1


async def test_a_call_beyond_the_budget_waits_until_enough_is_given_back() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    first, second = await budget.acquire(60), await budget.acquire(30)
    waits = _waits()

    [third] = await _in_line(budget, 50)
    assert not third.done() and budget.held == 90 and budget.waiting == 1
    assert _waits() == waits + 1

    budget.release(second)  # 60 + 50 would still be over
    await _settle()
    assert not third.done() and budget.held == 60

    budget.release(first)
    assert await third == 50 and budget.held == 50 and budget.waiting == 0


async def test_turns_keep_arrival_order_so_a_large_body_is_not_starved_by_small_ones() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    running = await budget.acquire(60)
    [large] = await _in_line(budget, 80)
    # It would fit now, but the large body came first.
    [small] = await _in_line(budget, 10)
    assert not large.done() and not small.done()

    budget.release(running)
    await _settle()
    assert large.done() and small.done() and budget.held == 90


async def test_a_body_larger_than_the_budget_runs_alone() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    assert await budget.acquire(1_000) == 100  # nothing else held: it runs at once
    budget.release(100)

    small = await budget.acquire(10)
    [huge] = await _in_line(budget, 1_000)
    assert not huge.done()
    budget.release(small)
    assert await huge == 100 and budget.held == 100


async def test_a_wait_that_runs_out_is_busy_and_leaves_no_trace_in_the_budget() -> None:
    budget = BodyBudget(100, wait_seconds=0.05)
    running = await budget.acquire(100)

    with pytest.raises(Busy) as refused:
        await budget.acquire(10)

    assert refused.value.status == 503 and refused.value.kind == "busy"
    assert refused.value.headers == {"Retry-After": "1"}
    assert refused.value.message == (
        "Radix already holds as many request bodies as it may at once "
        "(RADIX_BODIES_IN_FLIGHT_BYTES) and this call's turn did not come in 0.05 s; retry "
        "after 1 s."
    )
    assert budget.held == 100 and budget.waiting == 0
    budget.release(running)
    assert await budget.acquire(100) == 100  # nobody left waiting holds a place


async def test_a_caller_that_goes_away_while_waiting_gives_up_its_place() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    running = await budget.acquire(90)
    gone, behind = await _in_line(budget, 50, 10)

    gone.cancel()
    await _settle()

    # The call behind it fits now that the one before it has left the line.
    assert behind.done() and budget.held == 100 and budget.waiting == 0
    budget.release(running)
    budget.release(await behind)
    assert budget.held == 0


async def test_a_caller_gone_from_the_middle_of_the_line_leaves_it_at_once() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    running = await budget.acquire(100)
    first, gone = await _in_line(budget, 50, 50)
    assert budget.waiting == 2

    gone.cancel()
    await _settle()

    assert budget.waiting == 1 and not first.done()
    budget.release(running)
    assert await first == 50


async def test_a_caller_cancelled_but_not_yet_unwound_does_not_hold_up_the_line() -> None:
    """Between a task's cancellation and its next step, a release must pass over it."""
    budget = BodyBudget(100, wait_seconds=5)
    running = await budget.acquire(100)
    gone, behind = await _in_line(budget, 60, 30)

    gone.cancel()  # its future is cancelled now; the task runs its except clause later
    budget.release(running)

    assert budget.held == 30  # granted to the call behind at once
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await behind == 30 and budget.held == 30 and budget.waiting == 0


async def test_a_call_granted_its_turn_and_cancelled_before_it_ran_gives_the_share_back() -> None:
    budget = BodyBudget(100, wait_seconds=5)
    running = await budget.acquire(100)
    [waiting] = await _in_line(budget, 60)

    budget.release(running)  # grants the waiting call its 60 bytes...
    waiting.cancel()  # ...which is cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await waiting

    assert budget.held == 0


# --- Over HTTP, against a FHIR server that answers slowly ---------------------------------------


@dataclass
class SlowFhir:
    """Answers every search with an empty Bundle after ``delay`` seconds; counts calls at once."""

    delay: float
    base_url: str = ""
    at_once: int = 0
    most_at_once: int = 0
    searches: int = 0

    def app(self) -> Starlette:
        async def search(request: Request) -> Response:
            self.searches += 1
            self.at_once += 1
            self.most_at_once = max(self.most_at_once, self.at_once)
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.at_once -= 1
            body = {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []}
            return Response(orjson.dumps(body), media_type="application/fhir+json")

        return Starlette(routes=[Route("/{path:path}", search)])


@asynccontextmanager
async def slow_fhir(delay: float) -> AsyncIterator[SlowFhir]:
    server = SlowFhir(delay)
    async with serve(server.app()) as base_url:
        server.base_url = base_url
        yield server


def _call_fetching_procedures(fhir: str) -> bytes:
    """A real patient-view whose ``procedures`` key Radix must fetch from ``fhir``."""
    body = hook_request(CASES["ces-retention"], fhirServer=fhir)
    del body["prefetch"]["procedures"]
    return orjson.dumps(body)


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


async def _post_at_once(radix: Served, body: bytes, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=radix.base_url, timeout=60) as client:
        return list(
            await asyncio.gather(
                *(client.post(SERVICE, content=body, headers=JSON) for _ in range(count))
            )
        )


async def _calls_at_once(
    data: Path,
    count: int,
    delay: float,
    bodies: float | None = None,
    wait_seconds: str | None = None,
) -> tuple[list[httpx.Response], SlowFhir]:
    """``count`` calls at once to a ``serve`` whose budget holds ``bodies`` of them (default:
    the default budget), each fetching a key from a FHIR server answering in ``delay`` s."""
    async with slow_fhir(delay) as fhir:
        body = _call_fetching_procedures(fhir.base_url)
        settings = {"rate_limit_per_minute": "0", "fhir_allow_loopback": "true"}
        if bodies is not None:
            settings["bodies_in_flight_bytes"] = str(int(len(body) * bodies))
        if wait_seconds is not None:
            settings["bodies_in_flight_wait_seconds"] = wait_seconds
        with served(data, **settings) as radix:
            # The client on a loop of its own: this one serves the FHIR server meanwhile.
            answers = await asyncio.to_thread(asyncio.run, _post_at_once(radix, body, count))
    return answers, fhir


async def test_calls_beyond_the_budget_wait_their_turn_and_are_all_answered(data: Path) -> None:
    answers, fhir = await _calls_at_once(data, 6, delay=1.0, bodies=2.5)

    assert [a.status_code for a in answers] == [200] * 6
    assert fhir.searches == 6
    assert fhir.most_at_once == 2


async def test_with_room_for_every_body_the_calls_run_together(data: Path) -> None:
    """The same calls with the default budget: the bound above is the budget's doing."""
    answers, fhir = await _calls_at_once(data, 6, delay=1.0)

    assert [a.status_code for a in answers] == [200] * 6
    assert fhir.most_at_once == 6


async def test_a_call_whose_turn_does_not_come_in_time_is_busy(data: Path) -> None:
    answers, fhir = await _calls_at_once(data, 3, delay=2.0, bodies=1, wait_seconds="0.3")

    assert sorted(a.status_code for a in answers) == [200, 503, 503]
    for refused in (a for a in answers if a.status_code == 503):
        assert refused.headers["Retry-After"] == "1"
        outcome = refused.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert outcome["issue"][0]["code"] == "transient"
    assert fhir.searches == 1  # the refused calls' bodies were never decoded, nothing fetched


async def test_every_way_a_call_ends_gives_its_share_back(data: Path) -> None:
    """Room for one body at a time and a short wait: a share kept by any call would make every
    later one busy."""
    valid = hook_request(CASES["ces-retention"])
    invalid = {**valid, "context": {**valid["context"], "userId": 42}}  # refused after decoding
    size = max(len(orjson.dumps(valid)), len(orjson.dumps(invalid)))
    with served(
        data,
        rate_limit_per_minute="0",
        bodies_in_flight_bytes=str(size),
        bodies_in_flight_wait_seconds="0.3",
    ) as radix:
        async with httpx.AsyncClient(base_url=radix.base_url, timeout=30) as client:
            statuses = [
                (await client.post(path, json=body)).status_code
                for path, body in [
                    (SERVICE, valid),
                    (SERVICE, invalid),
                    ("/preview/evaluate", valid),
                    ("/preview/evaluate", invalid),
                    (SERVICE, valid),
                ]
            ]

    assert statuses == [200, 400, 200, 400, 200]
