"""Databases for app tests that read what the running service stored.

``backend``: every case on SQLite and on PostgreSQL (``RADIX_TEST_POSTGRES_URL``, or a throwaway
cluster), migrated as an operator would, in a schema of its own as in ``tests/store/conftest.py``.
``postgres_backend``: PostgreSQL only, for what only PostgreSQL refuses.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from cds_service.store.engine import create_engine
from tests.store.conftest import Backend, migrate_backend


async def _postgres_schema(url: str) -> Backend:
    schema = f"radix_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        await admin.dispose()
    return Backend("postgres", url, {"server_settings": {"search_path": schema}})


async def _drop(backend: Backend) -> None:
    schema = backend.connect_args["server_settings"]["search_path"]
    admin = create_engine(backend.url)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        backend = Backend("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'db' / 'radix.sqlite3'}")
    else:
        backend = await _postgres_schema(request.getfixturevalue("postgres_url"))
    # The service refuses an unmigrated PostgreSQL; migrating is the operator's step.
    await migrate_backend(backend)
    try:
        yield backend
    finally:
        if backend.name == "postgres":
            await _drop(backend)


@pytest.fixture
async def postgres_backend(postgres_url: str) -> AsyncIterator[Backend]:
    backend = await _postgres_schema(postgres_url)
    await migrate_backend(backend)
    try:
        yield backend
    finally:
        await _drop(backend)
