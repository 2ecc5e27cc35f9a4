"""Feedback items (CDS Hooks 2.0 §Feedback) as rows, with the identity that makes repeats one.

Identity of a feedback item: the service it was posted to, the calling issuer and tenant, the
``card`` uuid, the ``outcome``, the ``outcomeTimestamp`` as an instant (``…Z`` and ``…+00:00``
are the same) and the set of ``acceptedSuggestions`` ids (order and duplicates ignored). The
spec lets a client send the same feedback more than once; such a repeat is not a new row.
The override reason is not part of the identity: a repeat that differs only in its reason keeps
the first one. Issuer and tenant are, so one client can never mask another's feedback.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import orjson


def outcome_instant(timestamp: str) -> datetime:
    """Parse an RFC 3339 ``outcomeTimestamp`` into an aware UTC datetime."""
    # fromisoformat in 3.11 rejects a lowercase "t"/"z", which RFC 3339 allows.
    parsed = datetime.fromisoformat(timestamp.upper())
    if parsed.tzinfo is None:
        raise ValueError(f"outcomeTimestamp without offset: {timestamp!r}")
    return parsed.astimezone(UTC)


def accepted_ids(item: dict[str, Any]) -> list[str]:
    """The sorted, distinct ids of the item's ``acceptedSuggestions``."""
    return sorted({str(s["id"]) for s in item.get("acceptedSuggestions") or []})


def identity(service_id: str, item: dict[str, Any], issuer: str | None, tenant: str | None) -> str:
    """The hex SHA-256 that two repeats of one feedback item share (see the module docstring)."""
    parts = [
        service_id,
        issuer or "",
        tenant or "",
        str(item["card"]),
        str(item["outcome"]),
        outcome_instant(str(item["outcomeTimestamp"])).isoformat(),
        accepted_ids(item),
    ]
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


def feedback_row(
    service_id: str,
    item: dict[str, Any],
    issuer: str | None,
    tenant: str | None,
    received_at: datetime,
) -> dict[str, Any]:
    """The ``feedback`` table row for one schema-valid feedback item."""
    override = item.get("overrideReason") or {}
    reason = override.get("reason") or {}
    suggestions = accepted_ids(item)
    return {
        "identity": identity(service_id, item, issuer, tenant),
        "service_id": service_id,
        "card_uuid": str(item["card"]),
        "outcome": str(item["outcome"]),
        "accepted_suggestions": suggestions or None,
        "reason_system": reason.get("system"),
        "reason_code": reason.get("code"),
        "reason_display": reason.get("display"),
        "user_comment": override.get("userComment"),
        "outcome_at": outcome_instant(str(item["outcomeTimestamp"])),
        "issuer": issuer,
        "tenant": tenant,
        "received_at": received_at,
    }


def feedback_rows(
    service_id: str,
    items: list[dict[str, Any]],
    issuer: str | None,
    tenant: str | None,
    received_at: datetime,
) -> list[dict[str, Any]]:
    """Rows for a feedback request, repeats within the request already folded into one."""
    rows: dict[str, dict[str, Any]] = {}
    for item in items:
        row = feedback_row(service_id, item, issuer, tenant, received_at)
        rows.setdefault(row["identity"], row)
    return list(rows.values())
