"""Alembic migrations, configured in code so they run from any directory and from a wheel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from cds_service.settings import Settings
from cds_service.store.engine import create_engine, sqlite_path

_SCRIPTS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str = "") -> Config:
    """An Alembic configuration for this package's migrations (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


async def current_revision(conn: AsyncConnection) -> str | None:
    def _current(sync_conn: Connection) -> str | None:
        return MigrationContext.configure(sync_conn).get_current_revision()

    return await conn.run_sync(_current)


async def upgrade(conn: AsyncConnection, revision: str = "head") -> None:
    """Upgrade the database of ``conn`` to ``revision`` inside the caller's transaction."""
    await conn.run_sync(_command, command.upgrade, revision)


async def downgrade(conn: AsyncConnection, revision: str) -> None:
    """Downgrade the database of ``conn`` to ``revision`` (``base`` removes every table)."""
    await conn.run_sync(_command, command.downgrade, revision)


def _command(sync_conn: Connection, action: Any, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    action(config, revision)


async def migrate(
    settings: Settings, connect_args: dict[str, Any] | None = None
) -> tuple[str | None, str | None]:
    """Bring the configured database to the newest schema (``cds-service migrate``).

    Returns the revision before and after (``None``: no schema yet), for the command to say.
    """
    url = settings.sqlalchemy_url
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args)
    try:
        async with engine.begin() as conn:
            before = await current_revision(conn)
            await upgrade(conn)
            after = await current_revision(conn)
    finally:
        await engine.dispose()
    return before, after
