"""Pytest plugin: the PostgreSQL and Redis the tests talk to, real ones, on any machine.

``postgres_url`` and ``redis_url`` are session fixtures. When ``RADIX_TEST_POSTGRES_URL`` or
``RADIX_TEST_REDIS_URL`` is set (``.ci/run`` sets both) that server is used as it is: one that
cannot be reached fails the tests that need it. When it is not set, the first test that needs the
service starts a throwaway server from the binaries on the machine, on a free 127.0.0.1 port in a
temporary directory, and the session stops and removes it at its end (also after a failure or
Ctrl-C: the servers run in their own process group, so the terminal's SIGINT reaches pytest only
and pytest's teardown stops them). A machine without the binaries skips those tests with a reason
naming the missing binary, or fails them under ``RADIX_TEST_NO_SKIP``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.prerequisites import unavailable

POSTGRES_URL_VARIABLE = "RADIX_TEST_POSTGRES_URL"
REDIS_URL_VARIABLE = "RADIX_TEST_REDIS_URL"

#: initdb and the postmaster refuse to run as root; as root they run as the first of these.
UNPRIVILEGED_ACCOUNTS = ("postgres", "nobody")

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0
_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it


class ServiceError(RuntimeError):
    """A throwaway server was found but did not start."""


class PortTaken(ServiceError):
    """The port chosen for the server was taken by someone else before the server bound it."""


@dataclass(frozen=True)
class Account:
    """Who the server's processes run as: ``None`` ids mean the user running the tests."""

    uid: int | None = None
    gid: int | None = None

    def popen_options(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


# --- PostgreSQL -------------------------------------------------------------------------------


def postgres_bindir(path: str | None = None) -> Path | None:
    """The directory holding initdb and postgres: on PATH, else where ``pg_config`` says.

    Debian and Ubuntu keep the server binaries off PATH (``/usr/lib/postgresql/<v>/bin``), but
    their ``pg_config`` (from postgresql-common) is on PATH and names that directory.
    """
    initdb = shutil.which("initdb", path=path)
    if initdb is not None:
        return Path(initdb).resolve().parent
    pg_config = shutil.which("pg_config", path=path)
    if pg_config is None:
        return None
    try:
        bindir = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if bindir and (Path(bindir) / "initdb").is_file():
        return Path(bindir)
    return None


def require_postgres_bindir() -> Path:
    """The PostgreSQL server binaries' directory, or skip (fail under CI) naming initdb."""
    bindir = postgres_bindir()
    if bindir is None:
        unavailable(
            "initdb is not on PATH or in `pg_config --bindir` (PostgreSQL server binaries); "
            f"install PostgreSQL or set {POSTGRES_URL_VARIABLE}"
        )
    return bindir


def server_account() -> Account:
    """The account to run initdb and postgres as: ourselves, or an unprivileged one as root."""
    if os.geteuid() != 0:
        return Account()
    for name in UNPRIVILEGED_ACCOUNTS:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return Account(entry.pw_uid, entry.pw_gid)
    unavailable(
        "PostgreSQL refuses to run as root and there is no unprivileged account "
        f"({' or '.join(UNPRIVILEGED_ACCOUNTS)}) to run it as; set {POSTGRES_URL_VARIABLE}"
    )


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster of our own: trust authentication, superuser ``postgres``."""

    bindir: Path
    root: Path
    account: Account
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def initdb(self) -> None:
        # No locale, no fsync: nothing here has to survive the session.
        command = [
            str(self.bindir / "initdb"),
            *("-D", str(self.data), "-U", "postgres", "--auth=trust"),
            *("-E", "UTF8", "--no-locale", "--no-sync"),
        ]
        done = subprocess.run(
            command,
            cwd=self.root,
            env=_server_environment(),
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT,
            check=False,
            **self.account.popen_options(),
        )
        if done.returncode != 0:
            raise ServiceError(f"initdb exited with {done.returncode}:\n{done.stderr[-4000:]}")

    def start(self, port: int | None = None) -> None:
        """Start the postmaster on ``port`` (a restart keeps its port), else on a free one."""
        self.port = port or free_port()
        command = [
            str(self.bindir / "postgres"),
            *("-D", str(self.data), "-p", str(self.port)),
            *("-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="),
            *("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"),
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=_server_environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C is for pytest, which then stops us in order
                **self.account.popen_options(),
            )
        _wait(self.process, self._ready, self.log, "postgres")

    def _ready(self) -> bool:
        # The postmaster writes "ready" as the 8th line of its pid file once it takes connections.
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and answers(self.port)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGINT)  # fast shutdown


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """Initialise and start a cluster; always stop it and remove its directory."""
    bindir = require_postgres_bindir()
    account = server_account()
    with _scratch("radix-test-postgres-", account) as root:
        server = ThrowawayPostgres(bindir, root, account)
        try:
            server.initdb()
            _start_with_retries(server)
            yield server
        finally:
            server.stop()


# --- Redis ------------------------------------------------------------------------------------


@dataclass
class ThrowawayRedis:
    """A redis-server of our own that keeps nothing on disk."""

    executable: str
    root: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.root / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.port = free_port()
        command = [
            self.executable,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root)),
            *("--save", "", "--appendonly", "no", "--daemonize", "no"),
        ]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(self.process, self._ready, self.log, "redis-server")

    def _ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process, signal.SIGTERM)


def require_redis_server() -> str:
    """The redis-server executable, or skip (fail under CI) naming it."""
    executable = shutil.which("redis-server")
    if executable is None:
        unavailable(
            "redis-server is not on PATH (Redis server binary); "
            f"install Redis or set {REDIS_URL_VARIABLE}"
        )
    return executable


@contextmanager
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """Start a redis-server; always stop it and remove its directory."""
    executable = require_redis_server()
    with _scratch("radix-test-redis-", Account()) as root:
        server = ThrowawayRedis(executable, root)
        try:
            _start_with_retries(server)
            yield server
        finally:
            server.stop()


# --- Shared -----------------------------------------------------------------------------------


def _server_environment() -> dict[str, str]:
    # libpq variables of the caller's (PGDATA, PGPORT, ...) must not steer our own cluster.
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


@contextmanager
def _scratch(prefix: str, account: Account) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        if account.uid is not None:
            os.chown(root, account.uid, account.gid if account.gid is not None else -1)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start_with_retries(server: ThrowawayPostgres | ThrowawayRedis) -> None:
    for attempt in range(_ATTEMPTS):
        try:
            server.start()
            return
        except PortTaken:
            server.stop()
            if attempt == _ATTEMPTS - 1:
                raise


def _wait(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], log: Path, name: str
) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = _tail(log)
            if "already in use" in tail:
                raise PortTaken(tail)
            raise ServiceError(f"{name} exited with {process.returncode}:\n{tail}")
        if ready():
            return
        time.sleep(0.02)
    raise ServiceError(f"{name} did not become ready in {_START_TIMEOUT:.0f} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-4000:]
    except OSError:
        return ""


# --- Fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A SQLAlchemy URL of a PostgreSQL database whose user may create schemas and databases."""
    configured = os.environ.get(POSTGRES_URL_VARIABLE, "").strip()
    if configured:
        yield configured
        return
    with ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_postgres())
        except ServiceError as error:
            pytest.fail(f"the throwaway PostgreSQL did not start: {error}")
        yield server.url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL; tests share it, so each keeps to a key prefix of its own."""
    configured = os.environ.get(REDIS_URL_VARIABLE, "").strip()
    if configured:
        yield configured
        return
    with ExitStack() as stack:
        try:
            server = stack.enter_context(throwaway_redis())
        except ServiceError as error:
            pytest.fail(f"the throwaway Redis did not start: {error}")
        yield server.url
