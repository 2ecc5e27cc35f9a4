"""What the preview page pastes, made into a hook request the ``Advisor`` answers like any other.

Two kinds of paste are accepted: a CDS Hooks request, or a FHIR Bundle of one patient's
resources (which becomes a ``patient-view`` request whose prefetch is built from it). Either
way the preview evaluates only what was pasted: ``fhirServer`` and ``fhirAuthorization`` are
removed, so nothing is ever fetched on the preview's behalf, and every change is reported back
to the page as a notice.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cds_service.data import is_read, template_resource_type
from cds_service.errors import PreviewBundle, PreviewUnrecognised
from cds_service.protocol import ServiceDefinition, bundle_resources

#: The ``userId`` of a request built from a Bundle: a clinician is required by the hook, and
#: naming none in particular is what a preview is.
PREVIEW_USER = "Practitioner/radix-preview"

FHIR_SERVER_REMOVED = (
    "fhirServer and fhirAuthorization were removed: the preview never fetches from a FHIR "
    "server, it evaluates only what you pasted (prefetch). Keys missing from prefetch are "
    "treated as unavailable."
)


@dataclass
class PastedRequest:
    """The hook request to evaluate, and what the preview changed or ignored to get it."""

    request: dict[str, Any]
    notices: list[str] = field(default_factory=list)


def pasted_request(doc: Any, patient_view: ServiceDefinition) -> PastedRequest:
    """The hook request for a pasted document; a 400 OperationOutcome when it is neither kind."""
    if not isinstance(doc, dict):
        raise _neither()
    if doc.get("resourceType") == "Bundle":
        return request_from_bundle(doc, patient_view)
    if "hook" not in doc:
        raise _neither()
    request = dict(doc)
    notices = []
    if "fhirServer" in request or "fhirAuthorization" in request:
        request.pop("fhirServer", None)
        request.pop("fhirAuthorization", None)
        notices.append(FHIR_SERVER_REMOVED)
    return PastedRequest(request, notices)


def request_from_bundle(bundle: dict[str, Any], service: ServiceDefinition) -> PastedRequest:
    """A ``patient-view`` request whose prefetch holds the Bundle's resources, key by key."""
    resources = bundle_resources(bundle)
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if len(patients) != 1 or not isinstance(patients[0].get("id"), str):
        raise PreviewBundle(
            "A pasted Bundle must hold exactly one Patient resource with an id: the patient to "
            f"assess (this one holds {len(patients)})."
        )
    patient = patients[0]
    patient_id: str = patient["id"]
    own = [r for r in resources if _belongs_to(r, patient_id)]
    notices = []
    others = len(resources) - len(own)
    if others:
        notices.append(
            f"{others} resource(s) that name another patient as their subject were left out."
        )
    prefetch: dict[str, Any] = {}
    used: set[str] = set()
    for key, template in service.prefetch.items():
        kind = template_resource_type(template)
        used.add(kind)
        if is_read(template):
            prefetch[key] = patient if kind == "Patient" else None
        else:
            prefetch[key] = _searchset([r for r in own if r.get("resourceType") == kind])
    ignored = Counter(str(r.get("resourceType")) for r in own if r.get("resourceType") not in used)
    if ignored:
        names = ", ".join(f"{count} {kind}" for kind, count in sorted(ignored.items()))
        notices.append(f"Not read by Radix, so left out: {names}.")
    notices.append(
        f"The Bundle became a patient-view request for Patient/{patient_id[:64]}, its prefetch "
        "built from the Bundle's resources."
    )
    request = {
        "hook": service.hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": PREVIEW_USER, "patientId": patient_id},
        "prefetch": prefetch,
    }
    return PastedRequest(request, notices)


def _belongs_to(resource: dict[str, Any], patient_id: str) -> bool:
    """False only for a resource whose subject (or patient) is another patient."""
    if resource.get("resourceType") == "Patient":
        return resource.get("id") == patient_id
    for name in ("subject", "patient"):
        target = resource.get(name)
        reference = target.get("reference") if isinstance(target, dict) else None
        if isinstance(reference, str) and reference.startswith("Patient/"):
            return reference == f"Patient/{patient_id}"
    return True


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
    }
    if resources:
        bundle["entry"] = [{"resource": r, "search": {"mode": "match"}} for r in resources]
    return bundle


def _neither() -> PreviewUnrecognised:
    return PreviewUnrecognised(
        "Paste a CDS Hooks request (with hook, hookInstance, context and prefetch) or a FHIR "
        "Bundle of one patient's resources."
    )
