"""The schema revision this code needs, and the one a database holds, read without Alembic.

Alembic takes a fifth of a second to import; a service starting on a database that is already
at the newest revision (every start but the first) does not need it, so the check is plain SQL
on Alembic's own version table and Alembic is imported only to create or upgrade a schema.
"""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

#: The newest migration in ``migrations/versions`` (a test keeps the two in step).
HEAD_REVISION = "0001"

_VERSION_TABLE = "alembic_version"


async def stored_revision(conn: AsyncConnection) -> str | None:
    """The revision recorded in the database; None when it has no schema yet.

    Several rows (branches, which Radix's linear history never has) read as their sorted,
    comma-joined ids: never equal to one revision, so such a database is never taken as current.
    """
    return await conn.run_sync(_read)


def _read(sync_conn: Connection) -> str | None:
    if not inspect(sync_conn).has_table(_VERSION_TABLE):
        return None
    rows = sync_conn.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).scalars().all()
    return ",".join(sorted(rows)) if rows else None
