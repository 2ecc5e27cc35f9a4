import pytest
from fhir.resources.R4B.servicerequest import ServiceRequest

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
from tests.cards.factory import ENCOUNTER, PATIENT, PRACTITIONER, draft_mri, pama, request


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
