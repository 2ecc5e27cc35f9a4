"""Hand-made evaluations and hook requests for the cards tests (no engine involved)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cds_service.clinical.evaluation import (
    Assessment,
    CesScreen,
    Evaluation,
    Evidence,
    Localisation,
    OrderRating,
    RedFlag,
    RootCandidate,
)
from cds_service.protocol.hook_request import HookRequest

PATIENT = "pat-1"
PRACTITIONER = "Practitioner/pr-1"
ENCOUNTER = "enc-1"

LEFT_L5 = Localisation(
    root="L5",
    side="left",
    confidence=0.8,
    disc_levels=("L4-L5 paracentral", "L5-S1 far lateral"),
    candidates=(RootCandidate("S1", "left", 0.2),),
    evidence=(
        Evidence("Observation/ehl", "Great toe extension 4/5 (left), 20 Nov 2026"),
        Evidence("Observation/slr", "Straight leg raise positive (left), 20 Nov 2026"),
    ),
)

CES_FLAG = RedFlag(
    "cauda-equina",
    "emergency",
    ("cauda-equina/urinary-incontinence",),
    (Evidence("Condition/incontinence", "Urinary incontinence, onset 19 Nov 2026"),),
)
SEVERE_FLAG = RedFlag(
    "severe-motor-deficit",
    "emergency",
    ("severe-motor-deficit/mrc",),
    (Evidence("Observation/dorsiflexion", "Ankle dorsiflexion 2/5 (left), 20 Nov 2026"),),
)
MALIGNANCY_FLAG = RedFlag(
    "malignancy",
    "urgent",
    ("malignancy/history",),
    (Evidence("Condition/cancer", "History of breast cancer (Z85.3)"),),
)
INFECTION_FLAG = RedFlag(
    "infection",
    "urgent",
    ("infection/fever-idu",),
    (Evidence("Observation/temp", "Temperature 38.6 °C, 19 Nov 2026"),),
)
FRACTURE_FLAG = RedFlag("fracture", "urgent", ("fracture/age",), ())
UMN_FLAG = RedFlag(
    "upper-motor-neuron",
    "urgent",
    ("upper-motor-neuron/babinski",),
    (Evidence("Observation/babinski", "Babinski sign positive (right)"),),
)

_FLAGS_FOR = {
    "emergency-referral": (CES_FLAG,),
    "urgent-imaging": (MALIGNANCY_FLAG,),
}


def assessment(disposition: str = "physiotherapy", **changes: Any) -> Assessment:
    """A radicular left-L5 patient with the given disposition (and matching flags)."""
    flags = changes.pop("red_flags", _FLAGS_FOR.get(disposition, ()))
    base = Assessment(
        disposition=disposition,  # type: ignore[arg-type]
        red_flags=flags,
        localisation=LEFT_L5,
        symptom_weeks=2.0,
        conservative_care_weeks=None,
        ces_screen=CesScreen(
            present=("urinary-incontinence",),
            absent=("bilateral-symptoms",),
            unknown=("saddle-anaesthesia", "urinary-retention"),
        ),
        differentials=(),
        rules=(*(r for f in flags for r in f.rules), f"disposition/{disposition}"),
        knowledge_version="2026.11.0",
        radicular=True,
        back_pain=True,
    )
    return replace(base, **changes)


def evaluation(disposition: str = "physiotherapy", **changes: Any) -> Evaluation:
    return Evaluation(assessment=assessment(disposition, **changes))


def draft_mri(
    order_id: str = "draft-mri", code: str = "72148", priority: str = "routine", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "priority": priority,
        "code": {
            "coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}],
            "text": "MRI lumbar spine without contrast",
        },
        "subject": {"reference": f"Patient/{PATIENT}"},
        "authoredOn": "2026-11-20T09:28:00Z",
        **extra,
    }


def draft_physiotherapy(order_id: str = "draft-pt") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "308447003"}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
    }


def rating(
    draft: dict[str, Any],
    value: str = "not-appropriate",
    *,
    imaging: str = "lumbar-mri",
    rule: str = "order-rating/under-6-weeks",
    reason: str = "Radicular symptoms for 2 weeks without red flags: imaging is not yet indicated.",
    upgrade_to_stat: bool = False,
) -> OrderRating:
    return OrderRating(
        reference=f"ServiceRequest/{draft['id']}",
        resource=draft,
        imaging=imaging,  # type: ignore[arg-type]
        rating=value,  # type: ignore[arg-type]
        rule=rule,
        reason=reason,
        upgrade_to_stat=upgrade_to_stat,
    )


def request(
    hook: str = "patient-view",
    hook_instance: str = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    drafts: tuple[dict[str, Any], ...] = (),
    **context: Any,
) -> HookRequest:
    body: dict[str, Any] = {"userId": PRACTITIONER, "patientId": PATIENT, "encounterId": ENCOUNTER}
    if hook in ("order-select", "order-sign"):
        body["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": d} for d in drafts],
        }
    if hook == "order-select":
        body["selections"] = [f"ServiceRequest/{d['id']}" for d in drafts]
    body.update(context)
    return HookRequest(
        service_id="radix", hook=hook, hook_instance=hook_instance, context=body, prefetch={}
    )


#: The Argonaut CDS Hooks for PAMA guide's extension URLs start so (written out here, not taken
#: from the code under test).
ARGONAUT = "http://fhir.org/argonaut/Extension/"


def pama(resource: dict[str, Any]) -> dict[str, str]:
    """The PAMA extensions of a ServiceRequest by name: ``pama-rating`` → its code, the others
    → their ``valueUri``. Extensions under any other URL are ignored."""
    out: dict[str, str] = {}
    for extension in resource.get("extension", []):
        url = extension.get("url", "")
        if url.startswith(ARGONAUT):
            name = url.removeprefix(ARGONAUT)
            if name == "pama-rating":
                (coding,) = extension["valueCodeableConcept"]["coding"]
                assert coding["system"] == "http://fhir.org/argonaut/CodeSystem/pama-rating"
                out[name] = coding["code"]
            else:
                out[name] = extension["valueUri"]
    return out


def suggested_orders(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ServiceRequest that a suggestion of the answer creates or updates."""
    return [
        action["resource"]
        for card in body["cards"]
        for suggestion in card.get("suggestions", [])
        for action in suggestion.get("actions", [])
        if action.get("resource", {}).get("resourceType") == "ServiceRequest"
    ]


def created(suggestion: dict[str, Any]) -> dict[str, Any]:
    """The resource of a suggestion's one action, which must be a ``create``."""
    (action,) = suggestion["actions"]
    assert action["type"] == "create"
    return action["resource"]


def order_code(resource: dict[str, Any]) -> str:
    return resource["code"]["coding"][0]["code"]


def link_urls(card: dict[str, Any]) -> set[str]:
    return {link["url"] for link in card["links"]}
