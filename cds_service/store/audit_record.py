"""What the audit trail keeps about one hook call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuditRecord:
    """One hook call: who called, about whom, what Radix answered and on which knowledge.

    ``cards`` items are ``{"uuid", "summary", "indicator", "rules": [rule ids]}``, optionally
    with ``"suggestions": [{"uuid", "label"}]`` so analytics can name what was accepted.
    ``order_ratings`` items are ``{"reference", "rating"}``. No prefetch data is kept.
    """

    hook_instance: str
    service_id: str
    hook: str
    received_at: datetime  # aware
    latency_ms: float
    issuer: str | None
    tenant: str | None
    patient_reference: str | None
    cards: list[dict[str, Any]] = field(default_factory=list)
    assessment: dict[str, Any] | None = None
    order_ratings: list[dict[str, Any]] = field(default_factory=list)
    knowledge_version: str | None = None
    status_code: int = 200
    error_kind: str | None = None
