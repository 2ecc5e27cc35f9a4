"""Storage: the audit trail, feedback and analytics, on SQLite (default) or PostgreSQL."""

from cds_service.store.audit_record import AuditCard, AuditRating, AuditRecord
from cds_service.store.engine import sqlite_path
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
    "migrate",
    "render_report",
    "sqlite_path",
]
