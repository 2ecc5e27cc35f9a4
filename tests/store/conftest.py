"""Every store test runs on SQLite and on PostgreSQL.

PostgreSQL is ``RADIX_TEST_POSTGRES_URL`` when set (``.ci/run`` sets it; a database that cannot
be reached fails the cases), else a throwaway cluster started from the machine's binaries (see
``tests/services.py``). Each PostgreSQL case gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from cds_service.store.engine import create_engine
from cds_service.store.migration import upgrade
from cds_service.store.store import Store


@dataclass
class Backend:
    """Where one test's database lives: a URL plus the driver arguments that isolate it."""

    name: str
    url: str
    connect_args: dict[str, Any] = field(default_factory=dict)

    def store(self, **options: Any) -> Store:
        return Store(self.url, connect_args=self.connect_args or None, **options)

    def engine(self) -> AsyncEngine:
        return create_engine(self.url, self.connect_args or None)


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'data' / 'radix.sqlite3'}")
        return
    # Asked for here, not as an argument, so that only a PostgreSQL case starts a server.
    url: str = request.getfixturevalue("postgres_url")
    schema = f"radix_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Backend("postgres", url, {"server_settings": {"search_path": schema}})
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


async def migrate_backend(backend: Backend) -> None:
    """Bring the backend's database to head, as ``cds-service migrate`` does for PostgreSQL."""
    if backend.name == "sqlite":
        Path(backend.url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    engine = backend.engine()
    try:
        async with engine.begin() as conn:
            await upgrade(conn)
    finally:
        await engine.dispose()


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    await migrate_backend(backend)
    opened = backend.store()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
