import itertools

import orjson
import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.cards import render
from cds_service.cards.service_request import (
    MRI_WITHOUT_CONTRAST,
    PHYSIOTHERAPY_REFERRAL,
    PamaRating,
    order_name,
    rated,
    reason_codes,
    service_request,
    with_priority,
)
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Evaluation
from tests.cards.factory import (
    CES_FLAG,
    ENCOUNTER,
    FRACTURE_FLAG,
    INFECTION_FLAG,
    LEFT_L5,
    MALIGNANCY_FLAG,
    PATIENT,
    PRACTITIONER,
    SEVERE_FLAG,
    UMN_FLAG,
    assessment,
    draft_mri,
    draft_physiotherapy,
    pama,
    rating,
    request,
)


def test_new_order_is_a_draft_for_the_patient_encounter_and_user():
    resource = service_request(MRI_WITHOUT_CONTRAST, request(), priority="stat")
    assert resource["resourceType"] == "ServiceRequest"
    assert resource["status"] == "draft"
    assert resource["intent"] == "order"
    assert resource["priority"] == "stat"
    assert resource["subject"] == {"reference": f"Patient/{PATIENT}"}
    assert resource["encounter"] == {"reference": f"Encounter/{ENCOUNTER}"}
    assert resource["requester"] == {"reference": PRACTITIONER}
    assert resource["code"]["coding"] == [
        {
            "system": "http://www.ama-assn.org/go/cpt",
            "code": "72148",
            "display": MRI_WITHOUT_CONTRAST.display,
        }
    ]
    assert resource["category"][0]["coding"][0]["code"] == "363679005"
    ServiceRequest.model_validate(resource)


@pytest.mark.parametrize("user", ["Practitioner/x", "PractitionerRole/y"])
def test_requester_is_the_user_when_a_practitioner(user):
    resource = service_request(PHYSIOTHERAPY_REFERRAL, request(userId=user), priority="routine")
    assert resource["requester"] == {"reference": user}


@pytest.mark.parametrize("user", ["Patient/pat-1", "RelatedPerson/r", ""])
def test_no_requester_when_the_user_is_not_a_practitioner(user):
    resource = service_request(PHYSIOTHERAPY_REFERRAL, request(userId=user), priority="routine")
    assert "requester" not in resource


def test_absent_encounter_and_reasons_are_omitted_not_empty():
    req = request()
    del req.context["encounterId"]
    resource = service_request(PHYSIOTHERAPY_REFERRAL, req, priority="routine", reason_code=[])
    for key in ("encounter", "reasonCode", "reasonReference", "supportingInfo", "category"):
        assert key not in resource


def test_reason_references_keep_only_types_fhir_allows_there():
    resource = service_request(
        PHYSIOTHERAPY_REFERRAL,
        request(),
        priority="routine",
        reason_references=["Condition/c1", "Procedure/p1", "Observation/o1", "Condition/c1"],
        supporting=["ImagingStudy/i1"],
    )
    assert resource["reasonReference"] == [
        {"reference": "Condition/c1"},
        {"reference": "Observation/o1"},
    ]
    assert resource["supportingInfo"] == [{"reference": "ImagingStudy/i1"}]


RATING = PamaRating("not-appropriate", "5d6f2f0e-0c52-5a39-9d4e-6f0c7c2f3a10", "https://guideline")


def test_rated_adds_only_the_rating_extensions_to_the_order_as_sent():
    draft = draft_mri(extension=[{"url": "http://vendor.example/x", "valueString": "keep"}])
    out = rated(draft, RATING)
    assert out["extension"][0] == {"url": "http://vendor.example/x", "valueString": "keep"}
    assert pama(out) == {
        "pama-rating": "not-appropriate",
        "pama-rating-consult-id": "urn:uuid:5d6f2f0e-0c52-5a39-9d4e-6f0c7c2f3a10",
        "pama-rating-auc-applied": "https://guideline",
    }
    assert len(out["extension"]) == 4
    assert {k: v for k, v in out.items() if k != "extension"} == {
        k: v for k, v in draft.items() if k != "extension"
    }
    assert draft["extension"] == [{"url": "http://vendor.example/x", "valueString": "keep"}]


def test_rated_replaces_an_earlier_rating_instead_of_adding_a_second():
    legacy = {
        "url": "http://fhir.org/argonaut/StructureDefinition/pama-rating",
        "valueCodeableConcept": {"coding": [{"code": "appropriate"}]},
    }
    once = rated(draft_mri(extension=[legacy]), RATING)
    twice = rated(once, PamaRating("appropriate", RATING.consult_id, RATING.auc_applied))
    assert len(twice["extension"]) == 3
    assert pama(twice)["pama-rating"] == "appropriate"


def test_with_priority_copies():
    draft = draft_mri()
    assert with_priority(draft, "stat")["priority"] == "stat"
    assert draft["priority"] == "routine"


def _containers(value: object) -> list[object]:
    if isinstance(value, dict):
        return [value, *(c for v in value.values() for c in _containers(v))]
    if isinstance(value, list):
        return [value, *(c for v in value for c in _containers(v))]
    return []


def test_rated_and_with_priority_share_no_object_or_array_with_the_order():
    # A card's order is later changed in place (its rating, its priority): were any part shared,
    # the draft as sent, or the template it came from, would change with it.
    draft = draft_mri(
        extension=[{"url": "http://vendor.example/x", "valueString": "keep"}],
        reasonCode=[{"coding": [{"system": "http://snomed.info/sct", "code": "23056005"}]}],
    )
    for out in (rated(draft, RATING), with_priority(draft, "stat")):
        assert {id(c) for c in _containers(out)}.isdisjoint(id(c) for c in _containers(draft))
        assert {k: v for k, v in out.items() if k not in ("extension", "priority")} == {
            k: v for k, v in draft.items() if k not in ("extension", "priority")
        }


def test_reason_codes_come_from_the_draft_when_it_has_them():
    coded = {"coding": [{"system": "http://snomed.info/sct", "code": "23056005"}]}
    assert reason_codes(draft_mri(reasonCode=[coded, {}])) == [coded]
    assert reason_codes(draft_mri()) == []
    assert reason_codes(draft_mri(reasonCode="bad")) == []


def test_order_name_prefers_text_then_display_then_default():
    assert order_name(draft_mri()) == "MRI lumbar spine without contrast"
    coded = {"coding": [{"system": "s", "code": "c", "display": "CT lumbar"}]}
    assert order_name({"code": coded}) == "CT lumbar"
    assert order_name({"code": {"coding": [{"code": "c"}]}}) == "Lumbar imaging"
    assert order_name({}, "Lumbar MRI") == "Lumbar MRI"


# --- every ServiceRequest the cards can emit is valid FHIR R4B --------------------------------
# Radix builds them as plain dicts; fhir.resources checks them here, not on every call.

_FLAG_SETS = {
    "emergency-referral": [(CES_FLAG,), (SEVERE_FLAG,), (CES_FLAG, MALIGNANCY_FLAG)],
    "urgent-imaging": [(MALIGNANCY_FLAG,), (INFECTION_FLAG,), (FRACTURE_FLAG,), (UMN_FLAG,)],
}
_DISPOSITIONS = (
    "emergency-referral",
    "urgent-imaging",
    "mri",
    "specialist-review",
    "physiotherapy",
    "none",
)
_CODED = {
    "coding": [
        {
            "system": "http://snomed.info/sct",
            "code": "23056005",
            "display": "Sciatica",
            "userSelected": True,
        }
    ],
    "text": "Sciatica",
}
#: A draft's reasonCode as some clients send it: elements FHIR does not allow, wrong types.
_MALFORMED = [
    {"foo": 1},
    {"coding": "x", "text": ""},
    {"coding": [{"code": " c", "x": 1}]},
    {"coding": [{"system": "s", "code": "c", "userSelected": "yes"}], "text": 5},
]


def _order_scenarios(recent_mri: bool):
    """(hook, drafts, ratings, physiotherapy orders) for each kind of order a call can carry."""
    yield "patient-view", (), (), ()
    for hook in ("order-select", "order-sign"):
        for reasons in ([], [_CODED], _MALFORMED):
            for value, stat, priority in (
                ("not-appropriate", False, "routine"),
                ("not-appropriate", True, "routine"),
                ("appropriate", True, "routine"),
                ("appropriate", False, "stat"),
            ):
                mri = draft_mri(priority=priority, **({"reasonCode": reasons} if reasons else {}))
                rule = "order-rating/duplicate" if recent_mri else "order-rating/under-6-weeks"
                ratings = (rating(mri, value, rule=rule, upgrade_to_stat=stat),)
                yield hook, (mri,), ratings, ()
                physio = draft_physiotherapy()
                yield hook, (mri, physio), ratings, ("ServiceRequest/draft-pt",)
        yield hook, (draft_physiotherapy(),), (), ("ServiceRequest/draft-pt",)


def _answers():
    """Every answer the cards give, over all dispositions, red flags, practice modes, prior
    imaging, users and draft orders (created, upgraded, swapped, rated); with its drafts."""
    for disposition in _DISPOSITIONS:
        for flags in _FLAG_SETS.get(disposition, [()]):
            for localised, recent_mri, mode, user, encounter in itertools.product(
                (True, False),
                (True, False),
                ("us", "uk"),
                ("Practitioner/pr-1", "PractitionerRole/r", "Patient/pat-1"),
                (True, False),
            ):
                a = assessment(
                    disposition,
                    red_flags=flags,
                    localisation=LEFT_L5 if localised else None,
                    recent_lumbar_mri="ImagingStudy/prior" if recent_mri else None,
                )
                for hook, drafts, ratings, physio in _order_scenarios(recent_mri):
                    call = request(hook, drafts=drafts, userId=user)
                    if not encounter:
                        del call.context["encounterId"]
                    evaluation = Evaluation(
                        a,
                        order_ratings=ratings,
                        physiotherapy_orders=physio,
                        orders_in_scope=tuple(f"ServiceRequest/{d['id']}" for d in drafts),
                        new_mri_rating="appropriate",
                    )
                    yield render(evaluation, call, ClinicalConfig(practice_mode=mode)), drafts


def _emitted_service_requests():
    """(action type, ServiceRequest) of every answer, but for updates of a malformed draft."""
    for body, drafts in _answers():
        actions = [
            *(
                action
                for card in body["cards"]
                for s in card.get("suggestions", [])
                for action in s["actions"]
            ),
            *body.get("systemActions", []),
        ]
        for action in actions:
            resource = action.get("resource")
            if resource is None or resource["resourceType"] != "ServiceRequest":
                continue
            if action["type"] == "update" and resource.get("reasonCode") == _MALFORMED:
                # The client's own draft, as sent but for its priority and rating: what the
                # client sent is not Radix's to mend or refuse.
                (draft,) = [d for d in drafts if d["id"] == resource["id"]]
                assert _but_priority_and_rating(resource) == _but_priority_and_rating(draft)
                continue
            yield action["type"], resource


def _but_priority_and_rating(resource: dict) -> dict:
    return {k: v for k, v in resource.items() if k not in ("priority", "extension")}


def test_every_service_request_the_cards_emit_is_valid_fhir_and_unchanged_by_the_model():
    seen: dict[bytes, tuple[str, dict]] = {}
    for kind, resource in _emitted_service_requests():
        seen.setdefault(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS), (kind, resource))
    for _, resource in seen.values():
        model = ServiceRequest.model_validate(resource)
        # What the model gives back is what Radix built: the per-call round trip Radix no
        # longer makes would have changed nothing.
        assert model.model_dump(mode="json", exclude_none=True) == resource
    created = [r for kind, r in seen.values() if kind == "create"]
    updated = [r for kind, r in seen.values() if kind == "update"]
    # The enumeration reaches every template: each order code at each priority it is given,
    # drafts upgraded to stat and drafts rated, the draft's reasons carried over.
    assert {(r["code"]["coding"][0]["code"], r["priority"]) for r in created} == {
        ("308482002", "stat"),
        ("72148", "stat"),
        ("72158", "stat"),
        ("72148", "urgent"),
        ("72158", "urgent"),
        ("72148", "routine"),
        ("308482002", "routine"),
        ("308447003", "routine"),
    }
    assert {r["priority"] for r in updated} == {"routine", "stat"}
    assert any(r.get("reasonCode") == [_CODED] for r in created)
    assert all(
        "requester" not in r or r["requester"]["reference"] != "Patient/pat-1" for r in created
    )


def test_a_drafts_malformed_reason_codes_are_trimmed_to_their_valid_part():
    out = service_request(
        PHYSIOTHERAPY_REFERRAL, request(), priority="routine", reason_code=[*_MALFORMED, _CODED]
    )
    assert out["reasonCode"] == [{"coding": [{"system": "s", "code": "c"}]}, _CODED]
    ServiceRequest.model_validate(out)
    assert reason_codes(draft_mri(reasonCode=_MALFORMED[:2])) == []  # the default reason, then
