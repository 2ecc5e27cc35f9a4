"""Stable identifiers for cards and suggestions, so feedback can be matched to what was shown."""

from __future__ import annotations

import json
import uuid

from cds_service.protocol import HookRequest

#: Namespace of every Radix card and suggestion id (uuid5 of the project's URL).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://radix-cds.org/cds-hooks/cards")


def stable_uuid(request: HookRequest, key: str) -> str:
    """The same service, hook instance, patient and key always give the same id; else another.

    A retried call gets its card ids back, so feedback matches what was shown. The service and
    the patient are part of the id: a client that sends two patients under one hookInstance
    must never get one card id for both, or their feedback and analytics would merge.
    """
    # A JSON array keeps the parts apart whatever characters they hold.
    parts = [request.service_id, request.hook_instance, request.patient_id, key]
    return str(uuid.uuid5(NAMESPACE, json.dumps(parts)))
