"""Storage: the audit trail, feedback and analytics, on SQLite (default) or PostgreSQL.

The names below are loaded when first used: Alembic, behind ``migrate``, is imported only when
a schema is created or upgraded, not by every start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cds_service.store.audit_record import AuditRecord
    from cds_service.store.migration import migrate
    from cds_service.store.report import render_report
    from cds_service.store.store import Store

__all__ = ["AuditRecord", "Store", "migrate", "render_report"]

_HOMES = {
    "AuditRecord": "cds_service.store.audit_record",
    "Store": "cds_service.store.store",
    "migrate": "cds_service.store.migration",
    "render_report": "cds_service.store.report",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
