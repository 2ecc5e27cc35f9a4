"""Storage: the audit trail, feedback and analytics, on SQLite (default) or PostgreSQL.

The names below are loaded when first used: Alembic, behind ``migrate``, is imported only when
a schema is created or upgraded, not by every start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cds_service.facade import lazy_exports

if TYPE_CHECKING:
    from cds_service.store.analytics import Summary
    from cds_service.store.audit_record import AuditCard, AuditRating, AuditRecord
    from cds_service.store.engine import is_sqlite, sqlite_path
    from cds_service.store.errors import StoreUnavailable
    from cds_service.store.migration import migrate
    from cds_service.store.report import render_report
    from cds_service.store.store import Store

__all__ = [
    "AuditCard",
    "AuditRating",
    "AuditRecord",
    "Store",
    "StoreUnavailable",
    "Summary",
    "is_sqlite",
    "migrate",
    "render_report",
    "sqlite_path",
]

_HOMES = {
    "AuditCard": "cds_service.store.audit_record",
    "AuditRating": "cds_service.store.audit_record",
    "AuditRecord": "cds_service.store.audit_record",
    "Store": "cds_service.store.store",
    "StoreUnavailable": "cds_service.store.errors",
    "Summary": "cds_service.store.analytics",
    "is_sqlite": "cds_service.store.engine",
    "migrate": "cds_service.store.migration",
    "render_report": "cds_service.store.report",
    "sqlite_path": "cds_service.store.engine",
}


__getattr__ = lazy_exports(__name__, _HOMES)
