from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from cds_service.settings import Settings
from cds_service.store.engine import sqlite_path
from cds_service.store.migration import (
    current_revision,
    downgrade,
    head_revision,
    migrate,
    upgrade,
)
from cds_service.store.schema import metadata
from cds_service.store.schema_version import HEAD_REVISION, stored_revision
from tests.store.conftest import Backend, migrate_backend

TABLES = {"audit_event", "audit_card", "feedback"}


def _tables(sync_conn: Connection) -> set[str]:
    return set(inspect(sync_conn).get_table_names())


def _differences(sync_conn: Connection) -> list:
    context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
    return compare_metadata(context, metadata)


async def test_upgrade_creates_the_schema_the_code_declares(backend: Backend) -> None:
    await migrate_backend(backend)
    engine = backend.engine()
    try:
        async with engine.connect() as conn:
            assert await current_revision(conn) == head_revision()
            assert await conn.run_sync(_tables) >= TABLES
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(
    backend: Backend,
) -> None:
    await migrate_backend(backend)
    engine = backend.engine()
    try:
        async with engine.begin() as conn:
            await downgrade(conn, "base")
        async with engine.connect() as conn:
            assert await current_revision(conn) is None
            assert not TABLES & await conn.run_sync(_tables)
        async with engine.begin() as conn:
            await upgrade(conn)
        async with engine.connect() as conn:
            assert await current_revision(conn) == head_revision()
            assert await conn.run_sync(_tables) >= TABLES
    finally:
        await engine.dispose()


async def test_migrate_from_settings_is_idempotent(backend: Backend, tmp_path: Path) -> None:
    if backend.name == "sqlite":
        settings = Settings(data_dir=tmp_path / "nested" / "data")
        connect_args = None
    else:
        settings = Settings(database_url=backend.url)
        connect_args = backend.connect_args
    await migrate(settings, connect_args)
    await migrate(settings, connect_args)
    if backend.name == "sqlite":
        assert (tmp_path / "nested" / "data" / "radix.sqlite3").is_file()
        backend = Backend("sqlite", settings.sqlalchemy_url)
    engine = backend.engine()
    try:
        async with engine.connect() as conn:
            assert await current_revision(conn) == head_revision()
    finally:
        await engine.dispose()


def test_the_head_revision_known_without_alembic_is_alembics_head() -> None:
    assert head_revision() == HEAD_REVISION


async def test_the_stored_revision_read_without_alembic_is_alembics(backend: Backend) -> None:
    path = sqlite_path(backend.url)
    if path is not None:
        path.parent.mkdir(parents=True)
    engine = backend.engine()
    try:
        async with engine.connect() as conn:
            assert await stored_revision(conn) is None is await current_revision(conn)
        await migrate_backend(backend)
        async with engine.connect() as conn:
            assert await stored_revision(conn) == HEAD_REVISION == await current_revision(conn)
        async with engine.begin() as conn:
            await downgrade(conn, "base")
        async with engine.connect() as conn:
            # Alembic empties its table on a downgrade to base rather than dropping it.
            assert await stored_revision(conn) is None is await current_revision(conn)
    finally:
        await engine.dispose()
