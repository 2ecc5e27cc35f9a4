import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.protocol.patient_scope import (
    first_foreign,
    foreign_patient,
    own_patient_reference,
    referenced_patient,
)


@pytest.mark.parametrize(
    ("reference", "patient"),
    [
        ("Patient/p1", "p1"),
        ("Patient/p1/_history/7", "p1"),
        ("https://ehr.example/fhir/Patient/p1", "p1"),
        ("https://ehr.example/fhir/Patient/p1/_history/2", "p1"),
        ("http://ehr.example/fhir/Patient/p%2D1", "p-1"),
        ("Group/g1", None),
        ("#contained", None),
        ("urn:uuid:0b1c9d2e-7b4a-4c1e-9f0d-2a6b8c4e1d00", None),
        ("Patient", None),
        ("https://ehr.example/fhir/Practitioner/p1", None),
    ],
)
def test_a_reference_names_its_patient_in_any_form(reference, patient):
    assert referenced_patient(reference) == patient


def test_a_patient_resource_must_be_the_context_patient():
    assert foreign_patient({"resourceType": "Patient", "id": "p1"}, "p1") is None
    assert foreign_patient({"resourceType": "Patient", "id": "p2"}, "p1") == "Patient/p2"
    assert foreign_patient({"resourceType": "Patient"}, "p1") is None


@pytest.mark.parametrize("field", ["subject", "patient"])
def test_subject_or_patient_naming_another_patient_is_foreign(field):
    mine = {"resourceType": "Condition", "id": "c", field: {"reference": "Patient/p1/_history/1"}}
    other = {"resourceType": "Condition", "id": "c", field: {"reference": "Patient/p2"}}
    assert foreign_patient(mine, "p1") is None
    assert foreign_patient(other, "p1") == f"Condition/c, whose {field} is Patient/p2"


def test_references_that_name_no_patient_are_not_evidence_of_another():
    for subject in ({"reference": "Group/g"}, {"display": "Jane"}, "Patient/p2", None):
        assert foreign_patient({"resourceType": "Observation", "subject": subject}, "p1") is None


def test_first_foreign_names_the_resource_and_why():
    resources = [
        {"resourceType": "Condition", "id": "ok", "subject": {"reference": "Patient/p1"}},
        {"resourceType": "Observation", "id": "o9", "subject": {"reference": "Patient/p2"}},
    ]
    assert first_foreign(resources, "p1") == "Observation/o9, whose subject is Patient/p2"
    assert first_foreign(resources[:1], "p1") is None


@pytest.mark.parametrize(
    ("patient_id", "reference"),
    [
        ("p1", "Patient/p1"),
        ("a.b-9", "Patient/a.b-9"),
        ("%41", None),
        ("a/b", None),
        ("x?y", None),
        ("_history", None),
        ("", None),
    ],
)
def test_the_own_reference_is_offered_only_when_it_names_exactly_the_patient(patient_id, reference):
    assert own_patient_reference(patient_id) == reference


_id_text = st.text(st.sampled_from("Patient/%_history?:#ab12.-"), max_size=14)


@settings(max_examples=300, deadline=None)
@given(_id_text, _id_text, st.sampled_from(["subject", "patient"]), st.booleans())
def test_the_shortcut_for_the_own_reference_changes_no_verdict(patient_id, tail, field, own):
    reference = f"Patient/{patient_id}" if own else tail
    resource = {"resourceType": "Condition", "id": "c", field: {"reference": reference}}
    shortcut = own_patient_reference(patient_id)
    assert foreign_patient(resource, patient_id, shortcut) == foreign_patient(resource, patient_id)
