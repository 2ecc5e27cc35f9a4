"""``cds-service serve --workers N``: several processes on one port, as an operator runs them.

The planning rules are checked as pure functions; everything else over real HTTP against the
installed console script on 127.0.0.1, with the workers' own pids: which worker holds which
connection is read from ``/proc`` (the server side of each established connection, and the
socket descriptors each worker holds), so "both workers serve" is seen, not inferred.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.workers import WorkersRefused, available_cores, cgroup_cpu_quota, plan_workers
from tests.auth.conftest import SigningKey, write_trust_file
from tests.live_server import free_port
from tests.running_service import CLI, ServiceProcess, Signer, fresh_database, service_env
from tests.test_metrics import _scrape

ROOT = Path(__file__).resolve().parents[1]
VIEW = "/cds-services/radix-lumbar-radiculopathy"
PUBLIC = "https://radix.example.org"
ISS = "https://ehr.example.org/fhir"
BODY = json.dumps(json.loads((ROOT / "examples" / "patient-view-l5-left.json").read_text()))


# --- Planning: how many, and when not --------------------------------------------------------


def test_the_default_is_one_per_core_on_postgresql_and_one_on_sqlite() -> None:
    postgres = {"sqlite": False, "auth_required": True, "redis": True}
    assert plan_workers(0, **postgres, cores=8) == (8, None)
    assert plan_workers(0, **{**postgres, "auth_required": False, "redis": False}, cores=8) == (
        8,
        None,
    )
    assert plan_workers(0, sqlite=True, auth_required=False, redis=False, cores=8) == (1, None)
    # Asked for, SQLite runs several: its WAL and busy timeout let processes share the file.
    assert plan_workers(4, sqlite=True, auth_required=False, redis=False, cores=8) == (4, None)


def test_authentication_without_redis_keeps_one_worker_or_refuses_more() -> None:
    # By default: one worker, and the reason, naming the setting that allows more.
    count, why = plan_workers(0, sqlite=False, auth_required=True, redis=False, cores=8)
    assert count == 1 and why is not None and "RADIX_REDIS_URL" in why
    # On one core there is nothing to explain.
    assert plan_workers(0, sqlite=False, auth_required=True, redis=False, cores=1) == (1, None)
    # Asked for explicitly: refused, as a token spent on one worker could pass on another.
    for sqlite in (True, False):
        with pytest.raises(WorkersRefused, match="RADIX_REDIS_URL"):
            plan_workers(2, sqlite=sqlite, auth_required=True, redis=False, cores=8)
    assert plan_workers(1, sqlite=False, auth_required=True, redis=False, cores=8) == (1, None)


def _cgroup(tmp_path: Path, membership: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    root.mkdir(exist_ok=True)
    self_cgroup = tmp_path / "self-cgroup"
    self_cgroup.write_text(membership)
    return root, self_cgroup


def test_a_container_cpu_limit_bounds_the_cores(tmp_path: Path) -> None:
    # cgroup v2, the process's own cgroup: 1.5 CPUs.
    root, own = _cgroup(
        tmp_path / "v2", "0::/kubepods/pod1\n", {"kubepods/pod1/cpu.max": "150000 100000\n"}
    )
    assert cgroup_cpu_quota(root, own) == 1.5
    # No limit.
    root, own = _cgroup(tmp_path / "max", "0::/\n", {"cpu.max": "max 100000\n"})
    assert cgroup_cpu_quota(root, own) is None
    # cgroup v1 CFS quota (-1: none).
    root, own = _cgroup(
        tmp_path / "v1",
        "4:cpu,cpuacct:/docker/abc\n",
        {
            "cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "200000\n",
            "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup_cpu_quota(root, own) == 2.0
    root, own = _cgroup(
        tmp_path / "v1-none",
        "4:cpu:/\n",
        {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"},
    )
    assert cgroup_cpu_quota(root, own) is None
    # Nothing readable: no limit known.
    assert cgroup_cpu_quota(tmp_path / "nowhere", tmp_path / "nowhere-either") is None
    # This machine: at least one core, never more than the process may run on.
    assert 1 <= available_cores() <= len(os.sched_getaffinity(0))


# --- Over HTTP: who holds which connection ----------------------------------------------------


@dataclass
class Connection:
    """One keep-alive HTTP/1.1 connection of our own, so its client port is known."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    @property
    def local_port(self) -> int:
        return self.writer.get_extra_info("sockname")[1]

    async def post(self, path: str, body: str, headers: dict[str, str] | None = None) -> int:
        data = body.encode()
        head = [
            f"POST {path} HTTP/1.1",
            "Host: 127.0.0.1",
            "Content-Type: application/json",
            f"Content-Length: {len(data)}",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await self.writer.drain()
        response_head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 60)
        lines = response_head.decode("latin-1").split("\r\n")
        length = next(
            int(line.split(":", 1)[1])
            for line in lines
            if line.lower().startswith("content-length:")
        )
        await self.reader.readexactly(length)
        return int(lines[0].split()[1])

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def _holder(connection: Connection, port: int, pids: list[int]) -> int | None:
    """The worker whose socket is the server side of ``connection`` (from /proc)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state, inode = fields[1], fields[2], fields[3], int(fields[9])
        if (
            state == "01"
            and int(local.split(":")[1], 16) == port
            and int(remote.split(":")[1], 16) == connection.local_port
        ):
            return next((pid for pid in pids if inode in _socket_inodes(pid)), None)
    return None


def _ready_workers(service: ServiceProcess, count: int) -> list[int]:
    """The pids of the workers the supervisor said were ready, newest per worker number."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready: dict[int, int] = {}
        for entry in service.log_entries():
            if entry.get("logger") == "radix.workers" and "ready" in entry["message"]:
                ready[entry["worker"]] = entry["worker_pid"]
        if len(ready) == count:
            return [ready[n] for n in sorted(ready)]
        time.sleep(0.1)
    raise AssertionError(f"not {count} workers ready:\n{service.tail()}")


async def _one_connection_per_worker(
    service: ServiceProcess, pids: list[int], headers: Any = lambda: {}
) -> dict[int, Connection]:
    """A connection held by each worker, each with a hook answered 200 on it.

    The kernel gives a new connection to whichever worker accepts first; an idle one may take
    a burst of them all. So the workers are kept busy by other clients while probe connections
    are opened one by one, until every worker holds one.
    """
    held: dict[int, Connection] = {}
    stop = asyncio.Event()

    async def load() -> None:
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
            while not stop.is_set():
                answer = await http.post(
                    VIEW, content=BODY, headers={"Content-Type": "application/json", **headers()}
                )
                assert answer.status_code == 200, answer.text

    loaders = [asyncio.create_task(load()) for _ in range(4)]
    try:
        for _ in range(200):
            probe = await Connection.open(service.port)
            assert await probe.post(VIEW, BODY, headers()) == 200
            pid = _holder(probe, service.port, pids)
            if pid is not None and pid not in held:
                held[pid] = probe
            else:
                await probe.close()
            if set(held) == set(pids):
                return held
            for task in loaders:
                if task.done():
                    task.result()
        raise AssertionError(f"connections reached only {sorted(held)} of {pids}")
    finally:
        stop.set()
        await asyncio.gather(*loaders, return_exceptions=True)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie awaiting its parent's wait is gone for every purpose here.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    return True


def _wait_gone(pids: list[int], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not all(_gone(pid) for pid in pids):
        assert time.monotonic() < deadline, f"still running: {[p for p in pids if not _gone(p)]}"
        time.sleep(0.1)


@contextlib.contextmanager
def _running(service: ServiceProcess) -> Iterator[ServiceProcess]:
    service.start()
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


def _service(tmp_path: Path, name: str = "radix", **settings: str) -> ServiceProcess:
    env = service_env(data_dir=str(tmp_path / "data"), rate_limit_per_minute="0", **settings)
    return ServiceProcess(name, free_port(), env, tmp_path / f"{name}.log")


async def test_two_workers_share_the_port_and_both_answer_hooks(tmp_path: Path) -> None:
    service = _service(tmp_path, auth_required="false", workers="2")
    with _running(service):
        pids = _ready_workers(service, 2)
        assert service.pid not in pids and len(set(pids)) == 2
        held = await _one_connection_per_worker(service, pids)
        # Each worker answers on its own connections, its own event loop, its own app.
        for connection in held.values():
            assert await connection.post(VIEW, BODY) == 200
            await connection.close()
        ready = [e for e in service.log_entries() if e["message"].startswith("Radix ready")]
        assert len(ready) == 1 and ready[0]["message"].endswith("store SQLite, 2 workers")
        code = service.stop()
    # SIGTERM: every worker drained and exited, then the supervisor, cleanly.
    assert code == 0, service.tail()
    _wait_gone(pids)


async def test_on_postgresql_the_default_is_one_worker_per_core(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    key = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-" + uuid.uuid4().hex)
    async with fresh_database(postgres_url, "radix_workers") as database:
        service = _service(
            tmp_path,
            workers="0",  # the default
            database_url=database,
            redis_url=redis_url,
            trusted_clients_file=str(write_trust_file(tmp_path, ISS, key)),
            public_base_url=PUBLIC,
        )
        with _running(service):
            cores = available_cores()
            pids = _ready_workers(service, cores) if cores > 1 else []
            [ready] = [e for e in service.log_entries() if e["message"].startswith("Radix ready")]
            if cores > 1:
                assert ready["message"].endswith(f"store PostgreSQL, {cores} workers")
                assert len(set(pids)) == cores
            else:
                assert ready["message"].endswith("store PostgreSQL")


async def test_a_token_spent_on_one_worker_is_refused_on_the_other(
    tmp_path: Path, redis_url: str
) -> None:
    key = SigningKey(ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-" + uuid.uuid4().hex)
    signer = Signer(key, ISS, PUBLIC)
    service = _service(
        tmp_path,
        workers="2",
        trusted_clients_file=str(write_trust_file(tmp_path, ISS, key)),
        public_base_url=PUBLIC,
        redis_url=redis_url,
        jti_key_prefix=f"radix-test:{uuid.uuid4().hex}:",
    )
    with _running(service):
        pids = _ready_workers(service, 2)
        held = await _one_connection_per_worker(service, pids, lambda: signer.headers(VIEW))
        first, second = (held[pid] for pid in pids)
        for spent_on, replayed_on in ((first, second), (second, first)):
            token = signer.headers(VIEW)
            assert await spent_on.post(VIEW, BODY, token) == 200
            assert await replayed_on.post(VIEW, BODY, token) == 401
            assert await spent_on.post(VIEW, BODY, token) == 401
        for connection in held.values():
            await connection.close()
    refused = [e for e in service.log_entries() if e.get("auth_reason") == "replayed-jti"]
    assert len(refused) == 4


async def test_several_workers_with_authentication_and_no_redis_are_refused(
    tmp_path: Path,
) -> None:
    port = free_port()
    for how in (["--workers", "2"], []):
        env = service_env(
            data_dir=str(tmp_path / "data"),
            auth_required="true",
            **({} if how else {"workers": "3"}),
        )
        run = await asyncio.create_subprocess_exec(
            str(CLI),
            "serve",
            "--port",
            str(port),
            *how,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(run.communicate(), 60)
        assert run.returncode == 2 and out == b""
        message = err.decode()
        assert message.startswith("cds-service serve: ") and "RADIX_REDIS_URL" in message
        assert "replayed on another" in message and "Traceback" not in message
    assert not (tmp_path / "data").exists()  # refused before anything started


async def test_a_worker_that_cannot_start_stops_the_service_with_status_3(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    service = ServiceProcess(
        "radix",
        free_port(),
        service_env(data_dir=str(not_a_folder / "data"), auth_required="false", workers="2"),
        tmp_path / "radix.log",
    )
    service.start()
    assert service.process is not None
    assert service.process.wait(60) == 3, service.tail()
    failed = [e for e in service.log_entries() if "failed to start" in e["message"]]
    assert len(failed) == 1 and failed[0]["worker"] == 1 and failed[0]["exit_code"] == 3
    _wait_gone([failed[0]["worker_pid"]])


async def test_a_worker_killed_while_serving_is_replaced(tmp_path: Path) -> None:
    service = _service(tmp_path, auth_required="false", workers="2")
    with _running(service):
        pids = _ready_workers(service, 2)
        os.kill(pids[1], signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (replaced := _ready_workers(service, 2))[1] == pids[1]:
            assert time.monotonic() < deadline, service.tail()
            time.sleep(0.1)
        assert replaced[0] == pids[0] and replaced[1] != pids[1]
        died = [e for e in service.log_entries() if "while serving" in e["message"]]
        assert [(e["worker"], e["worker_pid"], e["exit_code"]) for e in died] == [
            (2, pids[1], -signal.SIGKILL)
        ]
        held = await _one_connection_per_worker(service, replaced)
        for connection in held.values():
            await connection.close()
        assert service.stop() == 0
    _wait_gone(replaced)


async def test_workers_stop_by_themselves_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    service = _service(tmp_path, auth_required="false", workers="2")
    with _running(service):
        pids = _ready_workers(service, 2)
        service.kill()  # SIGKILL: no forwarding; the kernel tells the workers (SIGTERM)
        _wait_gone(pids)
    stopped = [e for e in service.log_entries() if e["message"].startswith("Finished server")]
    assert len(stopped) == 2  # each drained as on a SIGTERM, not killed


async def test_the_metrics_of_every_worker_add_up_at_one_endpoint(tmp_path: Path) -> None:
    metrics_port = free_port()
    service = _service(tmp_path, auth_required="false", workers="2", metrics_port=str(metrics_port))
    with _running(service):
        pids = _ready_workers(service, 2)
        held = await _one_connection_per_worker(service, pids)
        before = _scrape(metrics_port).value("radix_hook_calls_total", status="200")
        for connection in held.values():
            for _ in range(3):
                assert await connection.post(VIEW, BODY) == 200
            await connection.close()
        after = _scrape(metrics_port).value("radix_hook_calls_total", status="200")
        assert after - before == 6
        # A worker that dies keeps its counts in the total; its replacement adds to them.
        os.kill(pids[0], signal.SIGKILL)
        assert _scrape(metrics_port).value("radix_hook_calls_total", status="200") == after
