"""The tables of the audit trail and the feedback record (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

# Names are fixed so that Alembic migrations and the metadata agree on both backends.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC; SQLite keeps no offset, so one is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store keeps aware UTC datetimes only")
        value = value.astimezone(UTC)
        # SQLite compares the stored text, so every value must have the same shape.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json() -> Any:
    return JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _id() -> Any:
    # SQLite only auto-increments an INTEGER PRIMARY KEY.
    return BigInteger().with_variant(Integer(), "sqlite")


#: One row per hook call, whatever its outcome.
audit_event = Table(
    "audit_event",
    metadata,
    Column("id", _id(), primary_key=True, autoincrement=True),
    Column("hook_instance", String(256), nullable=False),
    Column("service_id", String(256), nullable=False),
    Column("hook", String(128), nullable=False),
    Column("received_at", UTCDateTime(), nullable=False, index=True),
    Column("latency_ms", Float, nullable=False),
    Column("issuer", String(1024)),
    Column("tenant", String(256)),
    Column("patient_reference", String(512)),
    Column("assessment", _json()),
    Column("order_ratings", _json()),
    Column("knowledge_version", String(64)),
    Column("status_code", Integer, nullable=False),
    Column("error_kind", String(128)),
)

#: One row per card returned by a hook call; feedback joins here by ``uuid``.
audit_card = Table(
    "audit_card",
    metadata,
    Column("id", _id(), primary_key=True, autoincrement=True),
    Column(
        "event_id",
        _id(),
        ForeignKey("audit_event.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("uuid", String(256), nullable=False, index=True),
    Column("summary", String(512), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("rules", _json(), nullable=False),
    Column("suggestions", _json()),
)

#: One row per distinct feedback item; ``identity`` makes repeats idempotent.
feedback = Table(
    "feedback",
    metadata,
    Column("id", _id(), primary_key=True, autoincrement=True),
    Column("identity", String(64), nullable=False, unique=True),
    Column("service_id", String(256), nullable=False),
    Column("card_uuid", String(256), nullable=False, index=True),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", _json()),
    Column("reason_system", String(1024)),
    Column("reason_code", String(256)),
    Column("reason_display", Text),
    Column("user_comment", Text),
    Column("outcome_at", UTCDateTime(), nullable=False),
    Column("issuer", String(1024)),
    Column("tenant", String(256)),
    Column("received_at", UTCDateTime(), nullable=False, index=True),
)
