"""The real service under uvicorn, in its own process, stopped by SIGTERM or killed by SIGKILL.

Nothing the service acknowledged may be missing afterwards: every hook call answered has its
audit row, every feedback answered 200 has its row; with two worker processes too (each drains
its own calls and audit queue when the supervisor passes the SIGTERM on).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from cds_service.settings import Settings
from cds_service.store.engine import create_engine
from cds_service.store.migration import migrate
from cds_service.store.schema import audit_event, feedback
from tests.cases import own_case
from tests.live_server import free_port
from tests.vignettes import prefetch_from

SERVICE = "radix-lumbar-radiculopathy"
VIGNETTE = own_case("ces-retention")
NOW = datetime.now(UTC)


def _hook_call(hook_instance: str) -> dict[str, Any]:
    vignette = VIGNETTE.shifted(NOW)
    return {
        "hook": vignette.hook,
        "hookInstance": hook_instance,
        "context": vignette.context,
        "prefetch": prefetch_from(vignette.resources),
    }


def _feedback(card: str) -> dict[str, Any]:
    return {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "overrideReason": {"userComment": "durability test"},
                "outcomeTimestamp": "2026-03-02T09:31:00Z",
            }
        ]
    }


@dataclass
class Service:
    env: dict[str, str]
    url: str = ""
    database_url: str = ""
    process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "import sys; from cds_service.cli import main; sys.exit(main(['serve']))",
            env={**self.env, "RADIX_PORT": str(port)},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                if self.process.returncode is not None:
                    raise RuntimeError((await self.process.stderr.read()).decode()[-2000:])
                try:
                    if (await http.get(f"{self.url}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the service did not become ready in 30 s")

    async def stop(self, signum: int) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        await asyncio.wait_for(self.process.communicate(), timeout=60)
        return self.process.returncode

    async def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.communicate()


@pytest.fixture(params=["sqlite", "postgres"])
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Service]:
    env = {
        **os.environ,
        "RADIX_DATA_DIR": str(tmp_path / "data"),
        "RADIX_LOG_LEVEL": "warning",
        "RADIX_DATABASE_URL": "",
        # Durability is not about client authentication: run as in development.
        "RADIX_AUTH_REQUIRED": "false",
        # Nor about rate limits: the load comes from one client, faster than its default rate.
        "RADIX_RATE_LIMIT_PER_MINUTE": "0",
    }
    if request.param == "sqlite":
        running = Service(env, database_url=Settings(data_dir=tmp_path / "data").sqlalchemy_url)
        try:
            yield running
        finally:
            await running.kill()
        return
    postgres_url: str = request.getfixturevalue("postgres_url")
    # A server in another process cannot be handed a search_path: give it its own database.
    name = f"radix_durability_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    await migrate(Settings(database_url=url))
    running = Service({**env, "RADIX_DATABASE_URL": url}, database_url=url)
    try:
        yield running
    finally:
        await running.kill()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def _stored(database_url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            calls = set((await conn.execute(select(audit_event.c.hook_instance))).scalars())
            cards = set((await conn.execute(select(feedback.c.card_uuid))).scalars())
    finally:
        await engine.dispose()
    return calls, cards


@pytest.mark.parametrize("workers", [1, 2], ids=["1-worker", "2-workers"])
async def test_sigterm_during_load_loses_no_acknowledged_row(
    service: Service, workers: int
) -> None:
    service.env["RADIX_WORKERS"] = str(workers)
    await service.start()
    acknowledged_calls: set[str] = set()
    acknowledged_feedback: set[str] = set()
    stopping = asyncio.Event()

    async def client(c: int, http: httpx.AsyncClient) -> None:
        n = 0
        while True:
            n += 1
            instance, card = f"hi-{c}-{n}", f"card-{c}-{n}"
            try:
                call = await http.post(f"/cds-services/{SERVICE}", json=_hook_call(instance))
                acknowledged_calls.add(instance)  # answered, whatever the status
                assert call.status_code == 200, call.text
                sent = await http.post(f"/cds-services/{SERVICE}/feedback", json=_feedback(card))
                if sent.status_code == 200:
                    acknowledged_feedback.add(card)
            except httpx.TransportError:
                if stopping.is_set():
                    return
                raise

    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        clients = [asyncio.create_task(client(c, http)) for c in range(8)]
        try:
            while len(acknowledged_calls) < 80:
                await asyncio.sleep(0.05)
                for task in clients:
                    if task.done():
                        task.result()
            stopping.set()
            code = await service.stop(signal.SIGTERM)
            await asyncio.gather(*clients)
        finally:
            for task in clients:
                task.cancel()
            await asyncio.gather(*clients, return_exceptions=True)
    # uvicorn shuts down gracefully, then re-raises the signal it caught; a supervisor of
    # workers exits 0 once every worker has
    assert code in (0, -signal.SIGTERM) if workers == 1 else code == 0
    calls, cards = await _stored(service.database_url)
    assert acknowledged_calls and acknowledged_calls <= calls
    assert acknowledged_feedback and acknowledged_feedback <= cards


async def test_sqlite_keeps_acknowledged_feedback_through_sigkill(service: Service) -> None:
    if service.env["RADIX_DATABASE_URL"]:
        pytest.skip("SIGKILL durability is the embedded database's promise")
    await service.start()
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        sent = await http.post(f"/cds-services/{SERVICE}/feedback", json=_feedback("killed"))
        assert sent.status_code == 200 and sent.json()["stored"] == 1
    await service.stop(signal.SIGKILL)
    await service.start()  # restarts on the same files, WAL included
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        again = await http.post(f"/cds-services/{SERVICE}/feedback", json=_feedback("killed"))
        assert again.status_code == 200 and again.json()["stored"] == 0
    assert await service.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    _, cards = await _stored(service.database_url)
    assert cards == {"killed"}
