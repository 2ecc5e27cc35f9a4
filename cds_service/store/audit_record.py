"""What the audit trail keeps about one hook call."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NotRequired, TypedDict


class AuditSuggestion(TypedDict):
    uuid: str
    label: str


class AuditCard(TypedDict):
    """One card as shown: enough for analytics to match feedback to it and to its rules."""

    uuid: str
    summary: str
    indicator: str
    rules: list[str]
    #: So analytics can name what was accepted.
    suggestions: NotRequired[list[AuditSuggestion]]


class AuditRating(TypedDict):
    reference: str
    rating: str


@dataclass(frozen=True)
class AuditRecord:
    """One hook call: who called, about whom, what Radix answered and on which knowledge.

    ``assessment`` is the ``org.radix-cds.assessment`` object of the call. No prefetch data is
    kept.
    """

    hook_instance: str
    service_id: str
    hook: str
    received_at: datetime  # aware
    latency_ms: float
    issuer: str | None
    tenant: str | None
    patient_reference: str | None
    cards: list[AuditCard] = field(default_factory=list)
    assessment: dict[str, Any] | None = None
    order_ratings: list[AuditRating] = field(default_factory=list)
    knowledge_version: str | None = None
    status_code: int = 200
    error_kind: str | None = None
