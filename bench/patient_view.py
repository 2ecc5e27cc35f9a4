"""Benchmark: a patient-view call with a 60-resource prefetch through the real HTTP stack.

Starts ``cds-service serve`` (uvicorn + h11 + uvloop) on a free loopback port with a
throw-away SQLite store, then measures
  1. latency: N sequential calls (median, p95, p99), and
  2. throughput: C concurrent clients for S seconds (requests/s).

    .venv/bin/python bench/patient_view.py [--calls 300] [--clients 8] [--seconds 10]

The load generator shares the machine's cores with the server: compare runs, not machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.cases import own_case  # noqa: E402
from tests.vignettes import prefetch_from  # noqa: E402

#: The project's own realistic record: a left L4 radiculopathy among vital signs and noise.
CASE = "l4-left-noise"


def sixty_resource_request() -> dict[str, Any]:
    """A realistic record (a case with noise) padded with vital signs to 60 resources."""
    case = own_case(CASE)
    kinds = (
        "Patient",
        "Condition",
        "Observation",
        "Procedure",
        "ServiceRequest",
        "ImagingStudy",
        "DiagnosticReport",
    )
    resources = [r for r in case.resources if r["resourceType"] in kinds]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    n = 0
    while len(resources) < 60:
        n += 1
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"bench-vital-{n}",
                "status": "final",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                "code": "vital-signs",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [
                        {"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}
                    ]
                },
                "subject": {"reference": f"Patient/{patient['id']}"},
                "effectiveDateTime": f"2026-10-{(n % 28) + 1:02d}T08:00:00Z",
                "valueQuantity": {
                    "value": 60 + n % 30,
                    "unit": "/min",
                    "system": "http://unitsofmeasure.org",
                    "code": "/min",
                },
            }
        )

    return {
        "hook": "patient-view",
        "hookInstance": "bench-0001",
        "context": case.context,
        "prefetch": prefetch_from(resources),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(port: int, data_dir: str) -> subprocess.Popen[bytes]:
    # The benchmark measures the clinical hot path; JWT verification is benchmarked apart, and
    # the per-client rate limit (sized from this benchmark) would throttle its single client.
    env = {
        **os.environ,
        "RADIX_DATA_DIR": data_dir,
        "RADIX_LOG_LEVEL": "WARNING",
        "RADIX_AUTH_REQUIRED": "false",
        "RADIX_RATE_LIMIT_PER_MINUTE": "0",
    }
    cli = Path(sys.executable).parent / "cds-service"
    process = subprocess.Popen([str(cli), "serve", "--port", str(port)], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not become ready within 30 s")


async def _latency(url: str, body: bytes, calls: int) -> list[float]:
    timings = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(20):  # warm-up
            await client.post(url, content=body, headers={"Content-Type": "application/json"})
        for _ in range(calls):
            started = time.perf_counter()
            response = await client.post(
                url, content=body, headers={"Content-Type": "application/json"}
            )
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
    return timings


async def _throughput(url: str, body: bytes, clients: int, seconds: float) -> tuple[int, float]:
    done = 0
    stop = time.monotonic() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.monotonic() < stop:
            response = await client.post(
                url, content=body, headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 200
            done += 1

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        started = time.monotonic()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        return done, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    request = sixty_resource_request()
    count = sum(
        len(v.get("entry", [])) if v.get("resourceType") == "Bundle" else 1
        for v in request["prefetch"].values()
    )
    body = json.dumps(request).encode()
    port = _free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        server = _start_server(port, data_dir)
        try:
            url = f"http://127.0.0.1:{port}/cds-services/radix-lumbar-radiculopathy"
            timings = asyncio.run(_latency(url, body, args.calls))
            done, elapsed = asyncio.run(_throughput(url, body, args.clients, args.seconds))
        finally:
            server.terminate()
            server.wait(30)
    cuts = statistics.quantiles(timings, n=100)
    print(f"patient-view, {count} prefetch resources, {len(body):,} bytes per request")
    print(
        f"latency over {args.calls} sequential calls: median {statistics.median(timings):.2f} ms, "
        f"p95 {cuts[94]:.2f} ms, p99 {cuts[98]:.2f} ms"
    )
    print(
        f"throughput with {args.clients} concurrent clients for {elapsed:.1f} s: "
        f"{done / elapsed:.0f} requests/s"
    )


if __name__ == "__main__":
    main()
