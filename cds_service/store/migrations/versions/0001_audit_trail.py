"""Audit trail (hook calls and their cards) and feedback.

Revision ID: 0001
Revises:
Create Date: 2026-05-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _when() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("hook_instance", sa.String(256), nullable=False),
        sa.Column("service_id", sa.String(256), nullable=False),
        sa.Column("hook", sa.String(128), nullable=False),
        sa.Column("received_at", _when(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("issuer", sa.String(1024)),
        sa.Column("tenant", sa.String(256)),
        sa.Column("patient_reference", sa.String(512)),
        sa.Column("assessment", _json()),
        sa.Column("order_ratings", _json()),
        sa.Column("knowledge_version", sa.String(64)),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("error_kind", sa.String(128)),
        sa.PrimaryKeyConstraint("id", name="pk_audit_event"),
    )
    op.create_index("ix_audit_event_received_at", "audit_event", ["received_at"])
    op.create_table(
        "audit_card",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("event_id", _id(), nullable=False),
        sa.Column("uuid", sa.String(256), nullable=False),
        sa.Column("summary", sa.String(512), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("rules", _json(), nullable=False),
        sa.Column("suggestions", _json()),
        sa.PrimaryKeyConstraint("id", name="pk_audit_card"),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["audit_event.id"],
            name="fk_audit_card_event_id_audit_event",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_audit_card_event_id", "audit_card", ["event_id"])
    op.create_index("ix_audit_card_uuid", "audit_card", ["uuid"])
    op.create_table(
        "feedback",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("identity", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(256), nullable=False),
        sa.Column("card_uuid", sa.String(256), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", _json()),
        sa.Column("reason_system", sa.String(1024)),
        sa.Column("reason_code", sa.String(256)),
        sa.Column("reason_display", sa.Text()),
        sa.Column("user_comment", sa.Text()),
        sa.Column("outcome_at", _when(), nullable=False),
        sa.Column("issuer", sa.String(1024)),
        sa.Column("tenant", sa.String(256)),
        sa.Column("received_at", _when(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback"),
        sa.UniqueConstraint("identity", name="uq_feedback_identity"),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])
    op.create_index("ix_feedback_received_at", "feedback", ["received_at"])


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_table("audit_card")
    op.drop_table("audit_event")
