"""The ServiceRequests that suggestions create or update, built and validated with FHIR R4B.

Created orders are ``status: draft`` and ``intent: order``: accepting a suggestion is the
clinician's own act of ordering, and the draft then goes through their usual signing (and the
order-sign hook). ``proposal`` would mark it as the service's idea with no authorisation, which
most order entry systems would not route.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.fhir_json import concept_text
from cds_service.protocol.hook_request import HookRequest

Priority = Literal["routine", "urgent", "asap", "stat"]

CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
# The Argonaut CDS Hooks for PAMA guide's extension URLs (``Extension/`` since 2019; the CDS
# Hooks Sandbox reads no other).
PAMA_RATING_URL = "http://fhir.org/argonaut/Extension/pama-rating"
PAMA_CONSULT_ID_URL = "http://fhir.org/argonaut/Extension/pama-rating-consult-id"
PAMA_AUC_APPLIED_URL = "http://fhir.org/argonaut/Extension/pama-rating-auc-applied"
PAMA_RATING_SYSTEM = "http://fhir.org/argonaut/CodeSystem/pama-rating"
#: Every rating extension a re-rated order may already carry, the guide's pre-2019 URL included.
_PAMA_URLS = frozenset({
    PAMA_RATING_URL, PAMA_CONSULT_ID_URL, PAMA_AUC_APPLIED_URL,
    "http://fhir.org/argonaut/StructureDefinition/pama-rating",
})

#: Resource types a ServiceRequest.reasonReference may point to (FHIR R4).
_REASON_TYPES = frozenset({"Condition", "Observation", "DiagnosticReport", "DocumentReference"})
_REQUESTER_TYPES = ("Practitioner/", "PractitionerRole/")
_IMAGING_CATEGORY = {"coding": [{"system": SNOMED, "code": "363679005", "display": "Imaging"}]}


@dataclass(frozen=True)
class OrderCode:
    system: str
    code: str
    display: str
    imaging: bool = False

    def concept(self, text: str | None = None) -> dict[str, Any]:
        coding = {"system": self.system, "code": self.code, "display": self.display}
        return {"coding": [coding], "text": text or self.display}


# CPT descriptors are AMA-copyrighted: short displays only (reference/clinical.md §4.5).
MRI_WITHOUT_CONTRAST = OrderCode(CPT, "72148", "MRI lumbar spine without contrast", imaging=True)
MRI_WITH_AND_WITHOUT_CONTRAST = OrderCode(
    CPT, "72158", "MRI lumbar spine without and with contrast", imaging=True
)
PHYSIOTHERAPY_REFERRAL = OrderCode(SNOMED, "308447003", "Referral to physiotherapist")
#: Neurosurgeon rather than orthopaedic surgeon (308481009): the red-flag pathways this
#: service follows send cauda equina, foot drop and MRC <= 3 weakness to the on-call
#: neurosurgical team (NHS Lothian), and both codes are verified (reference/clinical.md §4.1).
#: The text names the spinal service, so a site whose spinal surgeons are orthopaedic can
#: route it as such.
SPINAL_SURGERY_REFERRAL = OrderCode(SNOMED, "308482002", "Referral to neurosurgeon")


def service_request(
    code: OrderCode,
    request: HookRequest,
    *,
    priority: Priority,
    text: str | None = None,
    reason_code: Iterable[dict[str, Any]] = (),
    reason_references: Iterable[str] = (),
    supporting: Iterable[str] = (),
) -> dict[str, Any]:
    """A new draft order for the patient of ``request``, as plain FHIR JSON without nulls."""
    data: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "priority": priority,
        "code": code.concept(text),
        "subject": {"reference": f"Patient/{request.patient_id}"},
    }
    if code.imaging:
        data["category"] = [_IMAGING_CATEGORY]
    if request.encounter_id:
        data["encounter"] = {"reference": f"Encounter/{request.encounter_id}"}
    if request.user_id and request.user_id.startswith(_REQUESTER_TYPES):
        data["requester"] = {"reference": request.user_id}
    reasons = [c for c in reason_code if c]
    if reasons:
        data["reasonCode"] = copy.deepcopy(reasons)
    references = [r for r in dict.fromkeys(reason_references) if r.split("/")[0] in _REASON_TYPES]
    if references:
        data["reasonReference"] = [{"reference": r} for r in references]
    support = [r for r in dict.fromkeys(supporting) if r]
    if support:
        data["supportingInfo"] = [{"reference": r} for r in support]
    return _validated(data)


@dataclass(frozen=True)
class PamaRating:
    """An appropriateness rating as the Argonaut PAMA guide carries it on a ServiceRequest."""

    rating: str  # appropriate | not-appropriate | no-criteria-apply
    consult_id: str  # a UUID, stable for the same call, patient and order
    auc_applied: str  # URL of the guideline the rating applied

    def extensions(self) -> list[dict[str, Any]]:
        coding = {"system": PAMA_RATING_SYSTEM, "code": self.rating}
        return [
            {"url": PAMA_RATING_URL, "valueCodeableConcept": {"coding": [coding]}},
            {"url": PAMA_CONSULT_ID_URL, "valueUri": f"urn:uuid:{self.consult_id}"},
            {"url": PAMA_AUC_APPLIED_URL, "valueUri": self.auc_applied},
        ]


def rated(order: dict[str, Any], rating: PamaRating) -> dict[str, Any]:
    """``order`` exactly as given, its rating extensions (if any) replaced by ``rating``'s."""
    out = copy.deepcopy(order)
    kept = [
        e
        for e in out.get("extension") or ()
        if not (isinstance(e, dict) and e.get("url") in _PAMA_URLS)
    ]
    out["extension"] = [*kept, *rating.extensions()]
    return out


def is_imaging(order: dict[str, Any]) -> bool:
    """Whether an order Radix built is imaging (``service_request`` marks it by category)."""
    return _IMAGING_CATEGORY in (order.get("category") or ())


def with_priority(resource: dict[str, Any], priority: Priority) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    out["priority"] = priority
    return out


def reason_codes(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft's own ``reasonCode`` (what the clinician recorded), for the order replacing it."""
    value = draft.get("reasonCode")
    return [c for c in value if isinstance(c, dict) and c] if isinstance(value, list) else []


def order_name(draft: dict[str, Any], default: str = "Lumbar imaging") -> str:
    """How the draft names itself: ``code.text``, else its first coding's display."""
    return concept_text(draft.get("code")) or default


def _validated(data: dict[str, Any]) -> dict[str, Any]:
    return ServiceRequest.model_validate(data).model_dump(mode="json", exclude_none=True)


def _warm() -> None:
    # pydantic builds the R4B validators lazily: the first ServiceRequest costs ~70 ms, which
    # would land on the first hook call instead of on start-up.
    _validated(
        {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "priority": "routine",
            "category": [_IMAGING_CATEGORY],
            "code": MRI_WITHOUT_CONTRAST.concept(),
            "subject": {"reference": "Patient/warm-up"},
            "encounter": {"reference": "Encounter/warm-up"},
            "requester": {"reference": "Practitioner/warm-up"},
            "reasonCode": [{"text": "warm-up"}],
            "reasonReference": [{"reference": "Condition/warm-up"}],
        }
    )


_warm()
