"""Three replicas behind HAProxy, one killed mid-run: they behave as one service.

Three ``cds-service serve`` processes share one PostgreSQL (the store) and one Redis (the replay
cache) behind Debian's HAProxy, which checks ``/readyz``. A bounded load of signed hook calls
and feedback runs through HAProxy, and one replica gets SIGKILL a third of the way through.
Then:

- every call the client saw answered by Radix (an ``X-Request-ID`` in the answer, which HAProxy's
  own 502/503 lack) has exactly one audit row, and no call has two;
- every feedback the client saw acknowledged is stored;
- HAProxy marks the dead replica DOWN once its readiness fails, and sends it nothing after;
- a ``jti`` spent on one replica is refused by the others, directly and through HAProxy;
- a client over its rate limit is refused; the buckets are per replica today, so what holds is
  that no replica admits more than its own bucket allows (the bound is checked, and the figure
  printed).

The figures are printed (``pytest -s``) and recorded in deploy/README.md. RADIX_REPLICA_CALLS
makes the run longer (a soak); the default keeps it under a minute.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import math
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from redis.asyncio import Redis
from sqlalchemy import func, select

from cds_service.store.engine import create_engine
from cds_service.store.schema import audit_event, feedback
from tests.auth.conftest import SigningKey, write_trust_file
from tests.live_server import free_port
from tests.prerequisites import unavailable
from tests.running_service import ServiceProcess, Signer, fresh_database, service_env

ROOT = Path(__file__).resolve().parents[1]
ISS = "https://ehr.example.org/fhir"
REPLICAS = ("r1", "r2", "r3")
VICTIM = "r2"
CALLS = int(os.environ.get("RADIX_REPLICA_CALLS", "240"))
#: Enough tenants that the load stays within each tenant's rate limit on each replica.
LOAD_TENANTS = [f"site-{n}" for n in range(max(10, CALLS // 20))]
CONCURRENCY = 8
BURST = 40
PER_MINUTE = 60
EXAMPLES = {
    "/cds-services/radix-lumbar-radiculopathy": [
        "patient-view-l5-left",
        "patient-view-cauda-equina",
    ],
    "/cds-services/radix-lumbar-imaging-select": ["order-select-mri-acute-sciatica"],
    "/cds-services/radix-lumbar-imaging-sign": ["order-sign-mri-after-physiotherapy"],
}

pytestmark = pytest.mark.integration


# --- HAProxy ------------------------------------------------------------------------------------


@dataclass
class HaProxy:
    """Debian's HAProxy in the foreground: round robin, /readyz checks every 200 ms."""

    port: int
    backends: dict[str, int]
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def socket_path(self) -> Path:
        return self.folder / "haproxy.sock"

    def config(self) -> str:
        servers = "\n".join(
            f"    server {name} 127.0.0.1:{port} check" for name, port in self.backends.items()
        )
        return f"""global
    maxconn 2000
    stats socket {self.socket_path} mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    # A request whose connection failed never reached a replica: try another. Nothing that
    # reached a replica is sent again (a hook call is not retried behind the client's back).
    retries 2
    retry-on conn-failure
    option redispatch

frontend radix
    bind 127.0.0.1:{self.port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter 200ms fastinter 100ms downinter 500ms fall 2 rise 2
    http-response set-header X-Radix-Replica %s
{servers}
"""

    def start(self) -> None:
        executable = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
        if executable is None:
            unavailable("haproxy is not installed (Debian package haproxy; .ci/run installs it)")
        path = self.folder / "haproxy.cfg"
        path.write_text(self.config())
        check = subprocess.run(
            [executable, "-c", "-f", str(path)], capture_output=True, text=True, check=False
        )
        assert check.returncode == 0, check.stdout + check.stderr
        with (self.folder / "haproxy.log").open("wb") as log:
            self.process = subprocess.Popen(
                [executable, "-db", "-f", str(path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def stats(self) -> dict[str, dict[str, str]]:
        """``show stat`` of the backend's servers, by server name."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self.socket_path))
            sock.sendall(b"show stat\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        rows = csv.DictReader(io.StringIO(data.decode().lstrip("# ")))
        return {
            r["svname"]: r
            for r in rows
            if r["pxname"] == "replicas" and r["svname"] in self.backends
        }

    def wait_until(self, server: str, status: str, timeout: float = 30) -> float:
        started = time.monotonic()
        seen: Any = None
        while time.monotonic() - started < timeout:
            assert self.process is not None and self.process.poll() is None, "haproxy exited"
            try:
                seen = self.stats()[server]
            except OSError:  # its stats socket is not there yet
                seen = None
            if seen is not None and seen["status"].startswith(status):
                return time.monotonic() - started
            time.sleep(0.02)
        raise AssertionError(f"HAProxy did not mark {server} {status}: {seen}")


# --- The run ------------------------------------------------------------------------------------


@dataclass
class Call:
    hook_instance: str
    path: str
    status: int | None = None
    replica: str | None = None
    by_radix: bool = False
    error: str | None = None
    cards: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Feedback:
    card: str
    status: int | None = None
    replica: str | None = None
    error: str | None = None


@pytest.fixture
def haproxy_folder(tmp_path: Path) -> Iterator[Path]:
    # A UNIX socket path must be short: not under pytest's long temporary paths.
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="radix-lb-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_three_replicas_behind_haproxy_survive_a_sigkill(
    tmp_path, haproxy_folder, postgres_url, redis_url
):
    key = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-" + uuid.uuid4().hex)
    trust = write_trust_file(tmp_path, ISS, key, [*LOAD_TENANTS, "flood"])
    lb_port = free_port()
    public = f"http://127.0.0.1:{lb_port}"
    signer = Signer(key, ISS, public)
    prefix = f"radix-test:{uuid.uuid4().hex}:"
    ports = {name: free_port() for name in REPLICAS}
    async with fresh_database(postgres_url, "radix_replicas") as database:
        replicas = {
            name: ServiceProcess(
                name,
                port,
                service_env(
                    database_url=database,
                    redis_url=redis_url,
                    jti_key_prefix=prefix,
                    trusted_clients_file=str(trust),
                    public_base_url=public,
                    rate_limit_per_minute=str(PER_MINUTE),
                    rate_limit_burst=str(BURST),
                    log_level="WARNING",
                ),
                tmp_path / f"{name}.log",
            )
            for name, port in ports.items()
        }
        lb = HaProxy(lb_port, ports, haproxy_folder)
        try:
            for replica in replicas.values():
                replica.start()
            for replica in replicas.values():
                replica.wait_ready()
            lb.start()
            for name in REPLICAS:
                lb.wait_until(name, "UP")
            figures = await _run(lb, replicas, signer, database, redis_url, prefix)
        finally:
            lb.stop()
            for replica in replicas.values():
                replica.stop()
            await _forget_keys(redis_url, prefix)
    print("\nreplica test figures:", json.dumps(figures, indent=2))


async def _run(lb, replicas, signer, database, redis_url, prefix) -> dict[str, Any]:
    calls: list[Call] = []
    feedbacks: list[Feedback] = []
    killed = asyncio.Event()
    down_after: dict[str, float] = {}
    at_down: list[tuple[str, ...]] = []
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    async with httpx.AsyncClient(base_url=lb.url, timeout=30, limits=limits) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(CALLS):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                call = await _hook_call(client, signer, n)
                calls.append(call)
                if call.status == 200 and call.cards and n % 3 == 0:
                    feedbacks.append(await _feedback(client, signer, call, n))
                if len(calls) >= CALLS // 3 and not killed.is_set():
                    killed.set()
                    killed_at = time.monotonic()
                    replicas[VICTIM].kill()
                    await asyncio.to_thread(lb.wait_until, VICTIM, "DOWN")
                    down_after["since_kill"] = time.monotonic() - killed_at
                    at_down.append(_traffic(lb.stats()[VICTIM]))

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.monotonic() - started
        assert killed.is_set()
        jti_results = await _jti_is_spent_everywhere(client, replicas, signer, calls)
        admitted, refused, flood_seconds = await _rate_limit(client, signer)
        # Once DOWN, the dead replica got nothing more: its sessions, connection errors,
        # retries and redispatches stayed as they were through the rest of the load.
        assert _traffic(lb.stats()[VICTIM]) == at_down[0]

    # Graceful stop of the survivors: their audit queues are written before they exit.
    for name, replica in replicas.items():
        if name != VICTIM:
            assert replica.stop() in (0, -15), replica.tail()
    rows, stored = await _store_contents(database)

    answered = [c for c in calls if c.by_radix]
    unanswered = [c for c in calls if not c.by_radix]
    # A call refused before its body was read (401, 429) has no hookInstance to find its row
    # by (nor, where refusals are only counted, a row at all): at most one row each, unnamed.
    unread = [c for c in answered if c.status in (401, 429)]
    missing = [
        c.hook_instance for c in answered if c not in unread and rows.get(c.hook_instance) != 1
    ]
    doubled = [h for h, count in rows.items() if count > 1 and h]
    assert missing == [] and doubled == [], (missing, doubled)
    assert rows.get("", 0) <= len(unread) + len(unanswered)
    acknowledged = [f for f in feedbacks if f.status == 200]
    assert acknowledged and all(f.card in stored for f in acknowledged)
    assert jti_results == {"first": 200, "again, each live replica": [401, 401], "haproxy": 401}
    # The replicas share one bucket per client through Redis: the whole service admits at most
    # one burst plus what refilled while the flood ran, however the calls were spread.
    refill = math.ceil(flood_seconds * PER_MINUTE / 60) + 1
    assert refused > 0 and admitted <= BURST + refill, (admitted, refused)
    assert len(answered) > CALLS * 0.9

    load = calls[:CALLS]  # then the replay calls of the jti check
    return {
        "hook_calls": len(load),
        "answered_by_radix": sum(1 for c in load if c.by_radix),
        "answered_by_replica": dict(Counter(c.replica for c in load if c.by_radix)),
        "statuses_answered": dict(Counter(c.status for c in load if c.by_radix)),
        "errors_seen_by_client": dict(
            Counter(c.error or f"HTTP {c.status}" for c in load if not c.by_radix)
        ),
        "audit_rows_of_answered_calls": sum(
            rows.get(c.hook_instance, 0) for c in load if c.by_radix
        ),
        "audit_rows_of_unanswered_calls": sum(
            rows.get(c.hook_instance, 0) for c in load if not c.by_radix
        ),
        "feedback_sent": len(feedbacks),
        "feedback_acknowledged": len(acknowledged),
        "feedback_acknowledged_and_stored": sum(1 for f in acknowledged if f.card in stored),
        "seconds_from_kill_to_haproxy_down": round(down_after["since_kill"], 2),
        "jti_replayed": jti_results,
        "rate_limit_flood_admitted": admitted,
        "rate_limit_flood_refused": refused,
        "load_seconds": round(elapsed, 1),
        "answer_ms_p50_p95": _percentiles([c.seconds for c in load if c.status == 200]),
    }


def _percentiles(seconds: list[float]) -> list[float]:
    ordered = sorted(seconds)
    return [round(ordered[int(q * (len(ordered) - 1))] * 1000, 1) for q in (0.5, 0.95)]


def _body(path: str, n: int, hook_instance: str) -> dict[str, Any]:
    names = EXAMPLES[path]
    body = json.loads((ROOT / "examples" / f"{names[n % len(names)]}.json").read_text())
    body["hookInstance"] = hook_instance
    return body


async def _hook_call(client: httpx.AsyncClient, signer: Signer, n: int) -> Call:
    path = list(EXAMPLES)[n % len(EXAMPLES)]
    call = Call(str(uuid.uuid4()), path)
    tenant = LOAD_TENANTS[n % len(LOAD_TENANTS)]
    started = time.monotonic()
    try:
        response = await client.post(
            path,
            json=_body(path, n // len(EXAMPLES), call.hook_instance),
            headers=signer.headers(path, tenant=tenant),
        )
    except httpx.TransportError as exc:
        call.error = type(exc).__name__
        return call
    finally:
        call.seconds = time.monotonic() - started
    call.status = response.status_code
    call.replica = response.headers.get("x-radix-replica")
    call.by_radix = "x-request-id" in response.headers
    if response.status_code == 200:
        call.cards = response.json().get("cards", [])
    return call


async def _feedback(client: httpx.AsyncClient, signer: Signer, call: Call, n: int) -> Feedback:
    card = call.cards[0]
    suggestion = card["suggestions"][0]["uuid"]
    path = f"{call.path}/feedback"
    item = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    result = Feedback(card["uuid"])
    try:
        response = await client.post(
            path,
            json={"feedback": [item]},
            headers=signer.headers(path, tenant=LOAD_TENANTS[n % len(LOAD_TENANTS)]),
        )
    except httpx.TransportError as exc:
        result.error = type(exc).__name__
        return result
    result.status = response.status_code
    result.replica = response.headers.get("x-radix-replica")
    return result


def _traffic(row: dict[str, str]) -> tuple[str, ...]:
    return tuple(row[k] for k in ("stot", "econ", "eresp", "wretr", "wredis"))


async def _jti_is_spent_everywhere(client, replicas, signer, calls) -> dict[str, Any]:
    """One token to a live replica, then again to each live replica and through HAProxy."""
    path = "/cds-services/radix-lumbar-radiculopathy"
    token = {"Authorization": f"Bearer {signer.token(path, tenant=LOAD_TENANTS[0])}"}
    live = [r for name, r in replicas.items() if name != VICTIM]

    async def send(http: httpx.AsyncClient, url: str) -> int:
        call = Call(str(uuid.uuid4()), path)
        response = await http.post(url, json=_body(path, 0, call.hook_instance), headers=token)
        call.status, call.by_radix = response.status_code, "x-request-id" in response.headers
        calls.append(call)  # audited like the load's calls
        return response.status_code

    async with httpx.AsyncClient(timeout=30) as direct:
        first = await send(direct, live[0].url + path)
        again = [await send(direct, r.url + path) for r in live[1:] + live[:1]]
    through = await send(client, path)
    return {"first": first, "again, each live replica": again, "haproxy": through}


async def _rate_limit(client: httpx.AsyncClient, signer: Signer) -> tuple[int, int, float]:
    """Discovery calls of one client through HAProxy, three buckets' worth and then some."""
    statuses: Counter[int] = Counter()
    started = time.monotonic()
    for _ in range(len(REPLICAS) * BURST + 20):
        response = await client.get(
            "/cds-services", headers=signer.headers("/cds-services", tenant="flood")
        )
        statuses[response.status_code] += 1
    assert set(statuses) <= {200, 429}, statuses
    return statuses[200], statuses[429], time.monotonic() - started


async def _store_contents(database: str) -> tuple[dict[str, int], set[str]]:
    engine = create_engine(database)
    try:
        async with engine.connect() as conn:
            rows = dict(
                (
                    await conn.execute(
                        select(audit_event.c.hook_instance, func.count()).group_by(
                            audit_event.c.hook_instance
                        )
                    )
                ).all()
            )
            stored = set((await conn.execute(select(feedback.c.card_uuid))).scalars())
    finally:
        await engine.dispose()
    return rows, stored


async def _forget_keys(redis_url: str, prefix: str) -> None:
    client = Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
