"""The ServiceRequests that suggestions create or update, as plain FHIR R4B JSON.

They are valid by construction, not validated per call (fhir.resources cost ≈0.5 ms a card):
Radix's own text and codes fill fixed templates, the request schema bounds the ids taken from
the call, and what comes from the record or a draft order (references, the draft's reasonCode)
is kept only where it is valid FHIR. tests/cards/test_service_request.py validates every
template the cards can emit against fhir.resources' ServiceRequest.

Created orders are ``status: draft`` and ``intent: order``: accepting a suggestion is the
clinician's own act of ordering, and the draft then goes through their usual signing (and the
order-sign hook). ``proposal`` would mark it as the service's idea with no authorisation, which
most order entry systems would not route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from cds_service.fhir_json import concept_text
from cds_service.protocol import HookRequest

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
_PAMA_URLS = frozenset(
    {
        PAMA_RATING_URL,
        PAMA_CONSULT_ID_URL,
        PAMA_AUC_APPLIED_URL,
        "http://fhir.org/argonaut/StructureDefinition/pama-rating",
    }
)

#: Resource types a ServiceRequest.reasonReference may point to (FHIR R4).
_REASON_TYPES = frozenset({"Condition", "Observation", "DiagnosticReport", "DocumentReference"})
_REQUESTER_TYPES = ("Practitioner/", "PractitionerRole/")
_IMAGING_CATEGORY = {"coding": [{"system": SNOMED, "code": "363679005", "display": "Imaging"}]}

# FHIR R4 primitive types (whole value; JSON has no empty strings): what may come from outside.
_FHIR_STRING = re.compile(r"[ \r\n\t\S]+")
_FHIR_CODE = re.compile(r"[^\s]+(\s[^\s]+)*")
_FHIR_URI = re.compile(r"\S+")
_CODING_STRINGS = (
    ("system", _FHIR_URI),
    ("version", _FHIR_STRING),
    ("code", _FHIR_CODE),
    ("display", _FHIR_STRING),
)


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
    reasons = [concept for concept in map(_concept, reason_code) if concept]
    if reasons:
        data["reasonCode"] = reasons
    references = [
        r
        for r in dict.fromkeys(reason_references)
        if r.split("/")[0] in _REASON_TYPES and _is_string(r)
    ]
    if references:
        data["reasonReference"] = [{"reference": r} for r in references]
    support = [r for r in dict.fromkeys(supporting) if _is_string(r)]
    if support:
        data["supportingInfo"] = [{"reference": r} for r in support]
    return data


def _is_string(value: Any) -> bool:
    return isinstance(value, str) and _FHIR_STRING.fullmatch(value) is not None


def _concept(value: Any) -> dict[str, Any] | None:
    """The valid part of a CodeableConcept (its codings and text), a new dict; else None.

    A draft order's ``reasonCode`` is the client's: an element FHIR does not allow there, or one
    of the wrong type, is left out rather than sent back in a suggestion (or refused whole).
    """
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    codings = value.get("coding")
    kept = [c for c in map(_coding, codings) if c] if isinstance(codings, list) else []
    if kept:
        out["coding"] = kept
    if _is_string(value.get("text")):
        out["text"] = value["text"]
    return out or None


def _coding(value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    out: dict[str, Any] = {}
    for name, pattern in _CODING_STRINGS:
        item = value.get(name)
        if isinstance(item, str) and pattern.fullmatch(item):
            out[name] = item
    if isinstance(value.get("userSelected"), bool):
        out["userSelected"] = value["userSelected"]
    return out or None


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
    out = _copy(order)
    kept = [
        e
        for e in out.get("extension") or ()
        if not (isinstance(e, dict) and e.get("url") in _PAMA_URLS)
    ]
    out["extension"] = [*kept, *rating.extensions()]
    return out


def _copy(resource: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of a JSON resource: a draft as orjson decoded it, or one Radix built.

    Through orjson, an eighth of ``copy.deepcopy``'s time (2 µs, not 17, for an order); a value
    orjson cannot encode could not have been answered either, as the response goes through it.
    """
    copied: dict[str, Any] = orjson.loads(orjson.dumps(resource))
    return copied


def is_imaging(order: dict[str, Any]) -> bool:
    """Whether an order Radix built is imaging (``service_request`` marks it by category)."""
    return _IMAGING_CATEGORY in (order.get("category") or ())


def with_priority(resource: dict[str, Any], priority: Priority) -> dict[str, Any]:
    out = _copy(resource)
    out["priority"] = priority
    return out


def reason_codes(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """The draft's own ``reasonCode`` (what the clinician recorded), for the order replacing it:
    its valid part, so that a draft with none falls back to Radix's own reason."""
    value = draft.get("reasonCode")
    return [c for c in map(_concept, value) if c] if isinstance(value, list) else []


def order_name(draft: dict[str, Any], default: str = "Lumbar imaging") -> str:
    """How the draft names itself: ``code.text``, else its first coding's display."""
    return concept_text(draft.get("code")) or default
