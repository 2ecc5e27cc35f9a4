"""A validated CDS Hooks service request, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FhirAuthorization:
    access_token: str = field(repr=False)  # never printed, logged or stored
    token_type: str
    scope: str
    subject: str
    expires_in: int | None = None
    patient: str | None = None


@dataclass(frozen=True)
class HookRequest:
    """The body of ``POST /cds-services/{id}`` after schema validation."""

    service_id: str
    hook: str
    hook_instance: str
    context: dict[str, Any]
    prefetch: dict[str, Any]  # keys exactly as sent: absent, null, OperationOutcome, resource
    fhir_server: str | None = None
    fhir_authorization: FhirAuthorization | None = field(default=None, repr=False)

    @property
    def patient_id(self) -> str:
        return str(self.context["patientId"])

    @property
    def user_id(self) -> str | None:
        value = self.context.get("userId")
        return value if isinstance(value, str) and value else None

    @property
    def encounter_id(self) -> str | None:
        value = self.context.get("encounterId")
        return value if isinstance(value, str) and value else None

    @property
    def draft_orders(self) -> list[dict[str, Any]]:
        """The draft order resources of ``context.draftOrders`` (any Bundle type, or none)."""
        return bundle_resources(self.context.get("draftOrders"))

    @property
    def selections(self) -> list[str]:
        value = self.context.get("selections")
        return [s for s in value if isinstance(s, str)] if isinstance(value, list) else []

    def orders_in_scope(self) -> list[dict[str, Any]]:
        """Selected draft orders on order-select; every draft order on order-sign."""
        orders = self.draft_orders
        if self.hook != "order-select":
            return orders
        selected = set(self.selections)
        return [o for o in orders if f"{o.get('resourceType')}/{o.get('id')}" in selected]


def bundle_resources(bundle: Any) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries, skipping OperationOutcomes and malformed entries."""
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        e["resource"]
        for e in entries
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and e["resource"].get("resourceType") != "OperationOutcome"
    ]
