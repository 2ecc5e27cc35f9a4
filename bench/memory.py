"""Benchmark: a serve process's peak memory under many large calls that wait on a slow FHIR server.

Starts a FHIR server on 127.0.0.1 that answers every search with an empty Bundle after
``--delay`` seconds, then ``cds-service serve`` (SQLite in a temporary folder) once without a
body budget (``RADIX_BODIES_IN_FLIGHT_BYTES`` larger than every body sent together) and once per
``--budgets`` value, and sends ``--calls`` patient-view calls at once: each ~1 MB (1,000
Observations), its ``serviceRequests`` key left out so that Radix fetches it. It prints the
process's resident memory before, its peak (``VmHWM``), after, how the calls were answered and
how long they all took.

    .venv/bin/python bench/memory.py [--calls 128] [--delay 3] [--budgets 33554432]

Memory, not time, is measured: run it on purpose, not in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ratio import SERVICES, Server, free_port, hook_request, start_radix, wait_ready

#: Larger than any number of 1 MB bodies this sends at once: the budget never binds.
NO_BUDGET = 2**40


def serve_slow_fhir(port: int, delay: float) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    empty = orjson.dumps({"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": []})

    async def search(request: Request) -> Response:
        await asyncio.sleep(delay)
        return Response(empty, media_type="application/fhir+json")

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app = Starlette(routes=[Route("/readyz", ready), Route("/{path:path}", search)])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_slow_fhir(delay: float) -> Server:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-fhir", str(port), str(delay)],
        stdin=subprocess.DEVNULL,
    )
    wait_ready(f"http://127.0.0.1:{port}/readyz", process)
    return Server("fhir", port, process)


def kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


async def call_at_once(url: str, body: bytes, calls: int) -> dict[int, int]:
    limits = httpx.Limits(max_connections=calls)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        headers = {"Content-Type": "application/json"}
        answers = await asyncio.gather(
            *(client.post(url, content=body, headers=headers) for _ in range(calls))
        )
    statuses: dict[int, int] = {}
    for answer in answers:
        statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
    return statuses


def measure(folder: Path, body: bytes, calls: int, budget: int) -> str:
    server, _ = start_radix(
        f"radix-{budget}",
        folder,
        fhir_allow_loopback="true",
        bodies_in_flight_bytes=str(budget),
    )
    try:
        pid = server.process.pid
        url = server.url(SERVICES["patient-view"])
        asyncio.run(call_at_once(url, body, 1))  # the first call's start-up work, out of the way
        before = kib(pid, "VmRSS")
        started = time.perf_counter()
        statuses = asyncio.run(call_at_once(url, body, calls))
        seconds = time.perf_counter() - started
        peak, after = kib(pid, "VmHWM"), kib(pid, "VmRSS")
    finally:
        server.stop()
    label = "none" if budget == NO_BUDGET else f"{budget / 2**20:g} MiB"
    answered = ", ".join(f"{n} × {status}" for status, n in sorted(statuses.items()))
    return (
        f"| {label} | {before // 1024} | **{peak // 1024}** | {after // 1024} | "
        f"{answered} | {seconds:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=128, help="calls sent at once")
    parser.add_argument("--delay", type=float, default=3.0, help="the FHIR server's seconds")
    parser.add_argument("--observations", type=int, default=1000)
    parser.add_argument(
        "--budgets",
        default="33554432",
        help="comma-separated RADIX_BODIES_IN_FLIGHT_BYTES values to run besides no budget",
    )
    parser.add_argument("--serve-fhir", nargs=2, metavar=("PORT", "DELAY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fhir:
        serve_slow_fhir(int(args.serve_fhir[0]), float(args.serve_fhir[1]))
        return
    budgets = [NO_BUDGET, *(int(b) for b in args.budgets.split(",") if b.strip())]

    fhir = start_slow_fhir(args.delay)
    try:
        request = hook_request("patient-view", args.observations)
        del request["prefetch"]["serviceRequests"]
        request["fhirServer"] = f"http://127.0.0.1:{fhir.port}"
        body = orjson.dumps(request)
        print(
            f"{args.calls} patient-view calls at once, {len(body) / 2**20:.2f} MiB each, one key "
            f"fetched from a FHIR server answering in {args.delay:g} s\n",
            flush=True,
        )
        rows = [
            "| Body budget | RSS before MiB | Peak MiB | RSS after MiB | Answers | Seconds |",
            "|---|---|---|---|---|---|",
        ]
        with tempfile.TemporaryDirectory(prefix="radix-memory-") as tmp:
            for budget in budgets:
                rows.append(measure(Path(tmp), body, args.calls, budget))
                print(rows[-1], flush=True)
    finally:
        fhir.stop()
    print("\n" + "\n".join(rows))


if __name__ == "__main__":
    main()
