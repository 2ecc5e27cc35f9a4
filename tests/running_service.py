"""``cds-service serve`` as separate processes, as an operator runs it, for the metrics and
replica tests: environment from RADIX_* only, stderr (JSON log lines) kept in a file, a fresh
PostgreSQL database migrated with ``cds-service migrate``, and CDS client JWTs signed by a key
that a trusted-clients file pins."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cds_service.store.engine import create_engine
from tests.auth.conftest import SigningKey

CLI = Path(sys.executable).with_name("cds-service")
_START_TIMEOUT = 60.0


def service_env(**settings: str) -> dict[str, str]:
    """The caller's environment without its RADIX_* settings (or a metrics folder), plus
    ``settings`` as RADIX_* variables.

    One process per service unless ``workers`` is given: a replica killed with SIGKILL is then
    one process gone, as a crashed node (tests/test_workers.py runs several workers)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RADIX_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env.update({f"RADIX_{k.upper()}": v for k, v in {"workers": "1", **settings}.items()})
    return env


@dataclass
class ServiceProcess:
    """One ``cds-service serve`` with its port and its log file."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(CLI), "serve", "--port", str(self.port)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # Ctrl-C is for pytest, which stops us in its teardown
            )

    def wait_ready(self, path: str = "/readyz") -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                if httpx.get(self.url + path, timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} was not ready in {_START_TIMEOUT:.0f} s:\n{self.tail()}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown, no drain, as a crashed node or an OOM kill."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM, then wait (SIGKILL after 30 s); the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def log_entries(self) -> list[dict[str, Any]]:
        entries = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return entries


@asynccontextmanager
async def fresh_database(postgres_url: str, prefix: str) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database, migrated by ``cds-service migrate``; dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate = subprocess.run(
            [str(CLI), "migrate"],
            env=service_env(database_url=url),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stderr
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


@dataclass
class Signer:
    """Signs CDS client JWTs for ``iss`` whose ``aud`` is ``public`` plus the path called."""

    key: SigningKey
    iss: str
    public: str
    spent: list[str] = field(default_factory=list)

    def token(self, path: str, *, tenant: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        body: dict[str, Any] = {
            "iss": self.iss,
            "aud": self.public + path,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            **({"tenant": tenant} if tenant else {}),
            **claims,
        }
        self.spent.append(body["jti"])
        return self.key.sign(body, typ="JWT")

    def headers(self, path: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(path, **claims)}"}
