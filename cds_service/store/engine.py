"""The SQLAlchemy engines for a database URL; SQLite set up for one durable writer.

The store works through the async engine; on SQLite the audit writer also has a synchronous
engine on the same file, used from one thread of its own (``sync_sqlite_engine``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

#: How long a SQLite writer waits for another connection's (or process's) write lock.
BUSY_TIMEOUT_SECONDS = 10.0

# Feedback must survive a power cut once acknowledged, so WAL commits are synced (FULL);
# audit writes are batched, which keeps the fsync off each hook call.
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000:.0f}",
    "PRAGMA foreign_keys=ON",
)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory or a non-SQLite URL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


#: Seconds to wait for a PostgreSQL connection: a database that does not answer is reported
#: unavailable (503, readiness) rather than holding a request for asyncpg's default minute.
CONNECT_TIMEOUT_SECONDS = 5.0

#: What every engine here shares: JSON through orjson, and errors without the statement's
#: parameters (``create_engine``'s docstring says why).
_ENGINE_OPTIONS: dict[str, Any] = {
    "json_serializer": _json_dumps,
    "json_deserializer": orjson.loads,
    "hide_parameters": True,
}


def create_engine(url: str, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    """An engine for ``url``; ``connect_args`` go to the driver (e.g. asyncpg server_settings).

    ``hide_parameters``: an error's text never carries the statement's parameters (audit rows
    hold a patient reference and an assessment, feedback an override comment), so it cannot
    carry them into a log.
    """
    if not is_sqlite(url):
        driver_args = dict(connect_args or {})
        if make_url(url).get_driver_name() == "asyncpg":
            driver_args.setdefault("timeout", CONNECT_TIMEOUT_SECONDS)
        return create_async_engine(
            url, connect_args=driver_args, pool_pre_ping=True, **_ENGINE_OPTIONS
        )
    engine = create_async_engine(url, connect_args=connect_args or {}, **_ENGINE_OPTIONS)
    _configure_sqlite(engine.sync_engine)
    return engine


def sync_sqlite_engine(url: str, connect_args: dict[str, Any] | None = None) -> Engine:
    """A synchronous engine on the SQLite file of ``url`` (an aiosqlite URL), set up as the
    async engine is: the same pragmas, transactions begun by SQLAlchemy, no parameters in
    errors. One connection: it is used from a single thread."""
    engine = create_sync_engine(
        make_url(url).set(drivername="sqlite+pysqlite"),
        connect_args=connect_args or {},
        pool_size=1,
        max_overflow=0,
        **_ENGINE_OPTIONS,
    )
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    # A batch of rows in one multi-row INSERT rather than a statement step per row (each step
    # lets go of the GIL and waits to get it back); SQLAlchemy does this only with RETURNING
    # on SQLite unless told.
    engine.dialect.use_insertmanyvalues_wo_returning = True

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin
        # (the recipe of SQLAlchemy's aiosqlite documentation), so reads see one snapshot.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")
