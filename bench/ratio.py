"""Benchmark: Radix against a bare Starlette app over the same HTTP stack, in one run.

The issue's yardstick (#13): how much of the HTTP stack's throughput the clinical job leaves.
It starts ``cds-service serve`` (SQLite in a temporary folder, INFO JSON logs to a file, the
rate limit off) and, from this script, a bare Starlette + uvicorn app that reads the same body,
decodes it with orjson and answers a JSON body of the size Radix answers. wrk (Debian's
package) drives them alternately, ``--rounds`` times, with 16 connections on one wrk thread;
each figure is the median over the rounds.

    .venv/bin/python bench/ratio.py [--rounds 3] [--duration 10] [--only ratio,auth,...]

Sections (``--only`` picks some, comma-separated):

- ``ratio``: a realistic patient-view (Patient, 10 Conditions, 54 exam and vital-sign
  Observations, 3 Procedures, ~64 KB) and order-select (the same chart, one MRI selected);
  authentication off. req/s, p50, p99 for each, and Radix / baseline.
- ``auth``: the same with RS384 CDS client JWTs, a fresh token (``jti``) on every request,
  signed before each run (the baseline receives the same header and ignores it).
- ``observations``: the patient-view at 10/50/200/1000 Observations; Radix's time per request
  beyond the baseline's (1 / req/s at 16 connections), the µs each added Observation costs and
  the growth exponent of that cost (1.0 is linear).
- ``cold``: seconds from ``cds-service serve`` starting to ``/readyz`` answering 200 (an
  existing database; authentication off and on).
- ``workers``: the patient-view with ``--workers 1`` and ``--workers 2``.

Each run also reads the servers' CPU time from ``/proc`` (every thread, and the workers of
``--workers``): CPU µs a request and its ratio, which wrk's own share of the cores does not
move. The load generator shares the machine's cores with the servers: compare figures of one
run, not machines. ``--pin-wrk CPU`` runs wrk under ``taskset -c CPU``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLI = Path(sys.executable).with_name("cds-service")
WRK = "wrk"
SERVICES = {
    "patient-view": "/cds-services/radix-lumbar-radiculopathy",
    "order-select": "/cds-services/radix-lumbar-imaging-select",
}
SECTIONS = ("ratio", "auth", "observations", "cold", "workers")
OBSERVATION_COUNTS = (10, 50, 200, 1000)
PUBLIC = "https://radix.bench.example"
ISS = "https://ehr.bench.example/fhir"
#: A body of 1000 Observations is ~1 MiB, Radix's default limit: raised for the benchmark.
MAX_BODY = 8 * 1024 * 1024
_READY_TIMEOUT = 60.0


# --- The requests -------------------------------------------------------------------------------


def realistic_chart(extra_vitals: int = 0) -> Any:
    """A left L4 radiculopathy among an EHR's usual record: 10 problems, a full neurological
    examination of both legs (27 Observations), 9 monthly vital-sign sets (27), 3 unrelated
    past procedures; ``extra_vitals`` more vital-sign sets further back."""
    from tests.cases import Record, _born, _concept
    from tests.clinical.records import SCT

    chart = Record("bench-l4", _born(57), "male", ("Haddad", "Omar"))
    for code, display, days in (
        ("M54.16", "Radiculopathy, lumbar region", 18),
        ("I10", "Essential (primary) hypertension", 900),
        ("E78.5", "Hyperlipidemia, unspecified", 600),
        ("E11.9", "Type 2 diabetes mellitus without complications", 1400),
        ("J45.909", "Unspecified asthma, uncomplicated", 3000),
        ("K21.9", "Gastro-esophageal reflux disease without esophagitis", 800),
        ("F41.1", "Generalized anxiety disorder", 500),
        ("M17.11", "Unilateral primary osteoarthritis, right knee", 1200),
        ("N40.0", "Benign prostatic hyperplasia without lower urinary tract symptoms", 700),
        ("E03.9", "Hypothyroidism, unspecified", 2000),
    ):
        chart.condition(code, display, days=days, side="left" if code == "M54.16" else None)
    for code, affected, healthy in (
        ("reflex-patellar", 1, 2),
        ("reflex-achilles", 2, 2),
        ("strength-hip-flexion", 5, 5),
        ("strength-knee-extension", 4, 5),
        ("strength-ankle-dorsiflexion", 5, 5),
        ("strength-great-toe-extension", 5, 5),
        ("strength-hip-abduction", 5, 5),
        ("strength-ankle-plantarflexion", 5, 5),
        ("sensation-medial-ankle", "reduced", "normal"),
        ("sensation-dorsum-foot", "normal", "normal"),
        ("sensation-lateral-foot", "normal", "normal"),
        ("femoral-nerve-stretch", True, False),
        ("straight-leg-raise", False, False),
    ):
        chart.both_legs(code, affected, healthy, "left")
    chart.exam("sensation-saddle", "normal")
    chart.vital_signs(visits=9 + extra_vitals)
    for ident, code, display, days in (
        ("appendectomy", "80146002", "Appendectomy", 9000),
        ("arthroscopy", "76916001", "Arthroscopy of knee", 1500),
        ("colonoscopy", "73761001", "Colonoscopy", 400),
    ):
        chart.resources.append(
            {
                "resourceType": "Procedure",
                "id": f"bench-l4-{ident}",
                "status": "completed",
                "code": _concept(SCT, code, display),
                "subject": chart.subject,
                "performedDateTime": f"{datetime.now(UTC).year - days // 365}-06-01T10:00:00Z",
            }
        )
    for n, resource in enumerate(chart.resources):
        with_ehr_metadata(resource, n, chart.subject)
    return chart


def with_ehr_metadata(resource: dict[str, Any], n: int, subject: dict[str, str]) -> None:
    """What an EHR's FHIR server adds to every resource it returns (version, identifiers,
    who recorded it, the visit): read past by the rules, but decoded and carried all the same."""
    meta = resource.setdefault("meta", {})
    meta.update(versionId=str(1 + n % 3), lastUpdated="2026-10-01T08:00:00.000Z")
    resource.setdefault(
        "identifier",
        [
            {
                "system": "https://ehr.example.org/fhir/identifiers/record-item",
                "value": f"RI-{100000 + n}",
            }
        ],
    )
    if resource["resourceType"] in ("Observation", "Condition", "Procedure"):
        resource.setdefault("encounter", {"reference": "Encounter/bench-l4-enc"})
    if resource["resourceType"] == "Observation":
        resource.setdefault("performer", [{"reference": "Practitioner/bench-l4-pr"}])


def hook_request(hook: str, observations: int | None = None) -> dict[str, Any]:
    """The realistic request of ``hook``; with ``observations``, exactly that many
    Observations (the examination first, then vital signs)."""
    from tests.vignettes import prefetch_from

    extra = 0 if observations is None else max(0, math.ceil((observations - 54) / 3))
    chart = realistic_chart(extra)
    selections: list[str] = []
    if hook == "order-select":
        selections = [chart.draft("72148", "MRI lumbar spine without contrast")]
    vignette = chart.case("bench", hook, {}, selections).shifted(datetime.now(UTC))
    resources = vignette.resources
    if observations is not None:
        kept = [r for r in resources if r["resourceType"] == "Observation"][:observations]
        resources = [r for r in resources if r["resourceType"] != "Observation"] + kept
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": vignette.context,
        "prefetch": prefetch_from(resources),
    }


def describe(request: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for value in request["prefetch"].values():
        if value is None:
            continue
        entries = (
            [e["resource"] for e in value.get("entry", [])]
            if "entry" in value
            else ([] if value.get("resourceType") == "Bundle" else [value])
        )
        for resource in entries:
            counts[resource["resourceType"]] = counts.get(resource["resourceType"], 0) + 1
    import orjson

    size = len(orjson.dumps(request))  # as sent
    return ", ".join(f"{n} {kind}" for kind, n in counts.items()) + f"; {size / 1000:.0f} kB"


# --- The baseline -------------------------------------------------------------------------------


def baseline_app() -> Any:
    """Reads the body, decodes it with orjson, answers ``size`` bytes of JSON."""
    from functools import lru_cache

    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    @lru_cache(maxsize=64)
    def reply(size: int) -> bytes:
        head, tail = b'{"cards":[],"padding":"', b'"}'
        return head + b"x" * max(0, size - len(head) - len(tail)) + tail

    async def answer(request: Request) -> Response:
        document = orjson.loads(await request.body())
        if not isinstance(document, dict):
            return Response(b"{}", 400, media_type="application/json")
        return Response(reply(int(request.path_params["size"])), media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(
        routes=[
            Route("/cds-services/{service}/{size:int}", answer, methods=["POST"]),
            Route("/readyz", ready),
        ]
    )


def serve_baseline(port: int, http: str) -> None:
    import uvicorn

    uvicorn.run(
        baseline_app(),
        host="127.0.0.1",
        port=port,
        http=http,
        log_level="warning",
        access_log=False,
        server_header=False,
        lifespan="off",
    )


# --- Processes ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(
    url: str,
    process: subprocess.Popen[bytes],
    log: Path | None = None,
    started: float | None = None,
) -> tuple[float, float]:
    """Poll ``url`` until 200: the seconds since ``started`` (default: now), and the CPU
    seconds the server process had used by then (less sensitive to a busy machine)."""
    import socket as sockets

    started = time.perf_counter() if started is None else started
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    request = f"GET /{url.split('//', 1)[1].split('/', 1)[1]} HTTP/1.0\r\n\r\n".encode()
    while time.perf_counter() - started < _READY_TIMEOUT:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise SystemExit(f"{url}: the server exited with {process.returncode}\n{tail}")
        # A bare socket, not an HTTP client: polling every 2 ms must cost the server nothing
        # it would not pay anyway, and the poller must not slow its start.
        try:
            with sockets.create_connection((host, int(port)), timeout=1) as sock:
                sock.sendall(request)
                if sock.recv(16).startswith(b"HTTP/1.1 200"):
                    return time.perf_counter() - started, cpu_seconds(process.pid)
        except OSError:
            pass
        time.sleep(0.002)
    process.kill()
    raise SystemExit(f"{url} was not ready in {_READY_TIMEOUT:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(pid: int) -> float:
    """CPU time so far of server ``pid``, every thread, and of its worker processes (its
    children: ``serve --workers N`` supervises them)."""
    total = cpu_seconds(pid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                total += cpu_seconds(int(entry.name))
        except (OSError, ValueError):
            continue  # a process that ended while being read
    return total


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    path_suffix: Callable[[str], str] = lambda path: ""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}{self.path_suffix(path)}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def radix_env(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RADIX_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update(
        RADIX_DATA_DIR=str(data_dir),
        RADIX_AUTH_REQUIRED="false",
        RADIX_RATE_LIMIT_PER_MINUTE="0",
        RADIX_MAX_BODY_BYTES=str(MAX_BODY),
    )
    env.update({f"RADIX_{k.upper()}": v for k, v in settings.items()})
    return env


def start_radix(
    name: str, folder: Path, *, workers: int | None = None, **settings: str
) -> tuple[Server, tuple[float, float]]:
    """``cds-service serve`` with ``settings``; the server, its seconds to ``/readyz`` and the
    CPU seconds it used until then."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"{name}.log"
    command = [str(CLI), "serve", "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    env = radix_env(folder / "data", **settings)
    with log.open("ab") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    ready = wait_ready(f"http://127.0.0.1:{port}/readyz", process, log, started)
    return Server(name, port, process), ready


def start_baseline(http: str, sizes: dict[str, int]) -> Server:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-baseline", str(port), http], stdin=subprocess.DEVNULL
    )
    wait_ready(f"http://127.0.0.1:{port}/readyz", process)
    return Server("baseline", port, process, lambda path: f"/{sizes[path]}")


def serve_supports_workers() -> bool:
    run = subprocess.run(
        [str(CLI), "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=radix_env(Path(tempfile.gettempdir())),
    )
    return "--workers" in run.stdout


# --- Load ---------------------------------------------------------------------------------------

LUA = r"""
local tokens, n, cycle = {}, 0, false
function init(args)
  cycle = args[3] == "cycle"
  local f = assert(io.open(args[1], "rb")); wrk.body = f:read("*a"); f:close()
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  if args[2] then for line in io.lines(args[2]) do tokens[#tokens + 1] = line end end
end
function request()
  if #tokens == 0 then return wrk.format() end
  n = n + 1
  local token = cycle and tokens[(n - 1) % #tokens + 1] or tokens[n]
  local headers = {["Content-Type"] = "application/json", ["Host"] = wrk.headers["Host"]}
  if token then headers["Authorization"] = "Bearer " .. token end
  return wrk.format(nil, nil, headers)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"status_errors":%d,' ..
    '"socket_errors":%d,"used_tokens":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout, n))
end
"""


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    #: The server's CPU µs a request (all its threads and workers), when its pid was given:
    #: a figure wrk's own share of the cores does not move.
    cpu_us: float = float("nan")


@dataclass
class Bench:
    folder: Path
    duration: float
    connections: int
    pin: str | None
    script: Path = field(init=False)

    def __post_init__(self) -> None:
        self.script = self.folder / "post.lua"
        self.script.write_text(LUA)

    def body_file(self, request: dict[str, Any]) -> Path:
        import orjson

        path = self.folder / f"body-{uuid.uuid4().hex}.json"
        path.write_bytes(orjson.dumps(request))
        return path

    def wrk(
        self,
        url: str,
        body: Path,
        tokens: Path | None = None,
        duration: float | None = None,
        connections: int | None = None,
        cycle: bool = False,
        pid: int | None = None,
    ) -> Load:
        seconds = max(1, round(duration or self.duration))
        command = [
            WRK,
            "-t1",
            f"-c{connections or self.connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(self.script),
            url,
            "--",
            str(body),
            *([str(tokens)] if tokens else []),
            *(["cycle"] if cycle and tokens else []),
        ]
        if self.pin is not None:
            command = ["taskset", "-c", self.pin, *command]
        cpu_before = server_cpu_seconds(pid) if pid is not None else 0.0
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        cpu = server_cpu_seconds(pid) - cpu_before if pid is not None else float("nan")
        line = next((x for x in run.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"wrk failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
        result = json.loads(line.removeprefix("RESULT "))
        seconds = result["duration_us"] / 1e6
        return Load(
            result["requests"] / seconds,
            result["p50_us"] / 1000,
            result["p99_us"] / 1000,
            result["status_errors"] + result["socket_errors"],
            result["requests"],
            cpu / max(1, result["requests"]) * 1e6,
        )


def response_size(url: str, body: Path, headers: dict[str, str] | None = None) -> int:
    import httpx

    answer = httpx.post(
        url,
        content=body.read_bytes(),
        timeout=30,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    if answer.status_code != 200:
        raise SystemExit(f"{url} answered {answer.status_code}: {answer.text[:500]}")
    return len(answer.content)


# --- Tokens -------------------------------------------------------------------------------------


@dataclass
class Signer:
    """An RS384 key, its trusted-clients file, and fresh tokens on demand."""

    folder: Path
    key: Any = field(init=False)
    trust_file: Path = field(init=False)

    def __post_init__(self) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        jwk.update(kid="bench", alg="RS384", use="sig")
        self.trust_file = self.folder / "trusted-clients.json"
        self.trust_file.write_text(
            json.dumps(
                {"clients": [{"iss": ISS, "jwks": {"keys": [jwk]}, "algorithms": ["RS384"]}]}
            )
        )

    def token(self, path: str) -> str:
        import jwt

        now = int(time.time())
        claims = {
            "iss": ISS,
            "aud": PUBLIC + path,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.key, algorithm="RS384", headers={"kid": "bench"})

    def token_file(self, path: str, count: int) -> Path:
        out = self.folder / f"tokens-{uuid.uuid4().hex}.txt"
        out.write_text("\n".join(self.token(path) for _ in range(count)) + "\n")
        return out


# --- Sections -----------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Pair:
    """Radix and baseline loads of one scenario, round by round."""

    radix: list[Load] = field(default_factory=list)
    baseline: list[Load] = field(default_factory=list)

    def row(self, label: str) -> str:
        r_rps, b_rps = median([x.rps for x in self.radix]), median([x.rps for x in self.baseline])
        r50, b50 = median([x.p50_ms for x in self.radix]), median([x.p50_ms for x in self.baseline])
        r99, b99 = median([x.p99_ms for x in self.radix]), median([x.p99_ms for x in self.baseline])
        r_cpu, b_cpu = self.cpu_us()
        errors = sum(x.errors for x in self.radix) + sum(x.errors for x in self.baseline)
        return (
            f"| {label} | {r_rps:,.0f} | {r50:.1f} | {r99:.1f} | {b_rps:,.0f} | {b50:.1f} | "
            f"{b99:.1f} | **{r_rps / b_rps:.2f}×** | {r99 / b99:.1f}× | {r_cpu:,.0f} | "
            f"{b_cpu:,.0f} | {b_cpu / r_cpu:.2f}× | {errors} |"
        )

    def cpu_us(self) -> tuple[float, float]:
        """Median server CPU µs a request: Radix's and the baseline's."""
        return median([x.cpu_us for x in self.radix]), median([x.cpu_us for x in self.baseline])


PAIR_HEADER = (
    "| Scenario | Radix req/s | p50 ms | p99 ms | Baseline req/s | p50 ms | p99 ms | "
    "Throughput ratio | p99 ratio | Radix CPU µs/req | Baseline CPU µs/req | CPU ratio | "
    "Errors |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def alternate(rounds: int, first: Callable[[], None], second: Callable[[], None]) -> None:
    """Both, ``rounds`` times, the one going first alternating (drift hits both alike)."""
    for n in range(rounds):
        for run in (first, second) if n % 2 == 0 else (second, first):
            run()


def measure(
    bench: Bench,
    rounds: int,
    label: str,
    radix: tuple[str, int],
    baseline: tuple[str, int],
    body: Path,
    signer: Signer | None = None,
    path: str = "",
) -> Pair:
    """Radix and the baseline on one body, alternately; with ``signer``, every Radix request
    carries a token of its own, and every baseline request a token too (never checked).
    ``radix`` and ``baseline`` are each a URL and the pid of the server behind it."""
    (radix_url, radix_pid), (baseline_url, baseline_pid) = radix, baseline
    pair = Pair()
    # Warm-up: imports, caches and the GC generations settle; it also tells how many tokens a
    # run will spend (each is used once, and they take ~1 ms each to sign).
    warm = bench.wrk(
        radix_url, body, fresh_tokens(signer, path, 3_000) if signer else None, duration=2
    )
    bench.wrk(baseline_url, body, duration=2)

    def run_radix() -> None:
        tokens = None
        if signer is not None:
            expected = max([x.rps for x in pair.radix] + [warm.rps])
            tokens = fresh_tokens(signer, path, int(expected * 1.5 * bench.duration) + 500)
        load = bench.wrk(radix_url, body, tokens, pid=radix_pid)
        pair.radix.append(load)
        print(
            f"  {label} radix: {load.rps:,.0f} req/s, p99 {load.p99_ms:.1f} ms, "
            f"{load.cpu_us:,.0f} CPU µs/req, {load.errors} errors",
            flush=True,
        )

    def run_baseline() -> None:
        tokens = fresh_tokens(signer, path, 1) if signer else None
        load = bench.wrk(baseline_url, body, tokens, cycle=True, pid=baseline_pid)
        pair.baseline.append(load)
        print(
            f"  {label} baseline: {load.rps:,.0f} req/s, p99 {load.p99_ms:.1f} ms, "
            f"{load.cpu_us:,.0f} CPU µs/req",
            flush=True,
        )

    alternate(rounds, run_radix, run_baseline)
    return pair


def fresh_tokens(signer: Signer, path: str, count: int) -> Path:
    started = time.perf_counter()
    tokens = signer.token_file(path, count)
    if count > 1:
        print(
            f"  (signed {count:,} RS384 tokens in {time.perf_counter() - started:.1f} s)",
            flush=True,
        )
    return tokens


def ratio_section(
    bench: Bench,
    rounds: int,
    radix: Server,
    baseline: Server,
    bodies: dict[str, Path],
    signer: Signer | None,
) -> dict[str, Pair]:
    return {
        hook: measure(
            bench,
            rounds,
            hook,
            (radix.url(path), radix.process.pid),
            (baseline.url(path), baseline.process.pid),
            bodies[hook],
            signer,
            path,
        )
        for hook, path in SERVICES.items()
    }


def observations_section(
    bench: Bench, rounds: int, radix: Server, baseline: Server
) -> dict[int, Pair]:
    """The patient-view at each size: Radix and the baseline alternately, size by size."""
    path = SERVICES["patient-view"]
    results = {}
    for n in OBSERVATION_COUNTS:
        body = bench.body_file(hook_request("patient-view", n))
        size = response_size(radix.url(path), body)
        baseline_url = f"http://127.0.0.1:{baseline.port}{path}/{size}"
        results[n] = measure(
            bench,
            rounds,
            f"{n} Observations",
            (radix.url(path), radix.process.pid),
            (baseline_url, baseline.process.pid),
            body,
        )
    return results


def observation_table(results: dict[int, Pair]) -> str:
    """Radix's µs per request beyond the baseline's at each size, then the slope and exponent:
    in wall time (1 / req/s at 16 connections) and in the servers' CPU time."""
    wall = {
        n: (1e6 / median([x.rps for x in pair.radix]), 1e6 / median([x.rps for x in pair.baseline]))
        for n, pair in results.items()
    }
    cpu = {n: pair.cpu_us() for n, pair in results.items()}
    lines = [
        "| Observations | Radix µs/request | Baseline µs/request | Radix beyond baseline µs | "
        "Radix CPU µs/request | Baseline CPU µs/request | Radix CPU beyond baseline µs |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in results:
        (r, b), (r_cpu, b_cpu) = wall[n], cpu[n]
        lines.append(
            f"| {n} | {r:,.0f} | {b:,.0f} | {r - b:,.0f} | {r_cpu:,.0f} | {b_cpu:,.0f} | "
            f"{r_cpu - b_cpu:,.0f} |"
        )
    lines.append("")
    for label, times in (("", wall), (" (CPU time)", cpu)):
        lines.extend(_growth({n: r - b for n, (r, b) in times.items()}, label))
    return "\n".join(lines)


def _growth(beyond: dict[int, float], label: str) -> list[str]:
    """µs per added Observation beyond the baseline and the growth exponent of that cost."""
    counts = sorted(beyond)
    low, mid, high = counts[0], counts[-2], counts[-1]
    added_high, added_mid = beyond[high] - beyond[low], beyond[mid] - beyond[low]
    per = added_high / (high - low)
    lines = [
        f"Cost per added Observation beyond the baseline{label} ({low}→{high}): **{per:.1f} µs**"
    ]
    if added_mid > 0 and added_high > 0:
        exponent = math.log(added_high / added_mid) / math.log((high - low) / (mid - low))
        lines.append(
            f"Growth exponent of that cost{label} ({mid}→{high}): **{exponent:.2f}** "
            "(1.0 is linear)"
        )
    else:
        lines.append(f"Growth exponent{label}: not measurable (the added cost is within the noise)")
    return lines


def cold_section(folder: Path, rounds: int, signer: Signer) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {"auth off": [], "auth on (RS384)": []}
    # The database exists already (an operator's restart), so its creation is not counted.
    server, _ = start_radix("cold-setup", folder)
    server.stop()
    for _ in range(max(rounds, 3)):
        for label in results:
            settings = (
                {}
                if label == "auth off"
                else {
                    "auth_required": "true",
                    "trusted_clients_file": str(signer.trust_file),
                    "public_base_url": PUBLIC,
                }
            )
            server, ready = start_radix("cold", folder, **settings)
            server.stop()
            results[label].append(ready)
    return results


def workers_section(bench: Bench, rounds: int, folder: Path, body: Path) -> dict[int, list[Load]]:
    path = SERVICES["patient-view"]
    results: dict[int, list[Load]] = {1: [], 2: []}
    servers = {n: start_radix(f"workers-{n}", folder / f"w{n}", workers=n)[0] for n in results}
    try:
        for server in servers.values():
            bench.wrk(server.url(path), body, duration=2)

        def run(n: int) -> Callable[[], None]:
            def go() -> None:
                results[n].append(bench.wrk(servers[n].url(path), body))
                print(f"  {n} worker(s): {results[n][-1].rps:,.0f} req/s", flush=True)

            return go

        alternate(rounds, run(1), run(2))
    finally:
        for server in servers.values():
            server.stop()
    return results


# --- Main ---------------------------------------------------------------------------------------


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} cores ({model}), Python {sys.version.split()[0]}, "
        f"load average {load[0]:.1f} at start"
    )


@contextmanager
def running(servers: list[Server]) -> Iterator[None]:
    try:
        yield
    finally:
        for server in servers:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections of: {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--baseline-http",
        choices=("h11", "httptools"),
        default="h11",
        help="the baseline's HTTP parser (Radix serves with h11)",
    )
    parser.add_argument("--pin-wrk", metavar="CPU", help="run wrk under taskset -c CPU")
    parser.add_argument(
        "--serve-baseline", nargs=2, metavar=("PORT", "HTTP"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(int(args.serve_baseline[0]), args.serve_baseline[1])
        return
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")

    with tempfile.TemporaryDirectory(prefix="radix-bench-") as tmp:
        folder = Path(tmp)
        bench = Bench(folder, args.duration, args.connections, args.pin_wrk)
        requests = {hook: hook_request(hook) for hook in SERVICES}
        bodies = {hook: bench.body_file(request) for hook, request in requests.items()}
        signer = Signer(folder)
        report = [
            f"Machine: {machine()}",
            f"wrk: 1 thread, {args.connections} connections, {args.duration:g} s per run, "
            f"{args.rounds} alternating rounds (medians); baseline: Starlette + uvicorn "
            f"({args.baseline_http}, uvloop), orjson decode, a response of Radix's size",
            f"patient-view: {describe(requests['patient-view'])}",
            f"order-select: {describe(requests['order-select'])}",
            "",
        ]
        print("\n".join(report), flush=True)

        def section(title: str, text: str) -> None:
            report.extend([f"### {title}", "", text, ""])
            print(f"\n### {title}\n\n{text}\n", flush=True)

        if "ratio" in only or "auth" in only or "observations" in only:
            radix, _ = start_radix("radix", folder)
            radix_auth, _ = start_radix(
                "radix-auth",
                folder,
                auth_required="true",
                trusted_clients_file=str(signer.trust_file),
                public_base_url=PUBLIC,
            )
            sizes = {
                path: response_size(radix.url(path), bodies[hook])
                for hook, path in SERVICES.items()
            }
            baseline = start_baseline(args.baseline_http, sizes)
            with running([radix, radix_auth, baseline]):
                for name, progress, title, server, tokens in (
                    ("ratio", "authentication off", "authentication off", radix, None),
                    (
                        "auth",
                        "RS384 tokens, each used once",
                        "RS384 JWT on every call",
                        radix_auth,
                        signer,
                    ),
                ):
                    if name not in only:
                        continue
                    print(f"\nratio ({progress})", flush=True)
                    pairs = ratio_section(bench, args.rounds, server, baseline, bodies, tokens)
                    section(
                        f"Throughput, {title}, 1 worker",
                        "\n".join([PAIR_HEADER, *(pair.row(hook) for hook, pair in pairs.items())]),
                    )
                if "observations" in only:
                    print("\nObservations", flush=True)
                    results = observations_section(bench, args.rounds, radix, baseline)
                    section(
                        "Cost per Observation (patient-view, auth off)", observation_table(results)
                    )
        if "cold" in only:
            print("\ncold start", flush=True)
            cold = cold_section(folder / "cold", args.rounds, signer)
            section(
                "Cold start to /readyz (existing database)",
                "\n".join(
                    [
                        "| Configuration | median s | median CPU s | runs (s) |",
                        "|---|---|---|---|",
                        *(
                            f"| {label} | {median([v[0] for v in values]):.2f} | "
                            f"{median([v[1] for v in values]):.2f} | "
                            f"{', '.join(f'{v[0]:.2f}' for v in values)} |"
                            for label, values in cold.items()
                        ),
                    ]
                ),
            )
        if "workers" in only:
            print("\nworkers", flush=True)
            if not serve_supports_workers():
                section("1 vs 2 workers", "n/a: this `cds-service serve` has no --workers")
            else:
                loads = workers_section(bench, args.rounds, folder, bodies["patient-view"])
                one, two = (median([x.rps for x in loads[n]]) for n in (1, 2))
                rows = [
                    f"| {n} | {median([x.rps for x in v]):,.0f} | "
                    f"{median([x.p50_ms for x in v]):.1f} | "
                    f"{median([x.p99_ms for x in v]):.1f} | {sum(x.errors for x in v)} |"
                    for n, v in loads.items()
                ]
                table = ["| Workers | req/s | p50 ms | p99 ms | Errors |", "|---|---|---|---|---|"]
                verdict = f"2 workers / 1 worker: **{two / one:.2f}×** (wrk shares the 2 cores)"
                section(
                    "1 vs 2 workers (patient-view, auth off, SQLite)",
                    "\n".join([*table, *rows, "", verdict]),
                )
        print("\n\n" + "\n".join(report))


if __name__ == "__main__":
    main()
