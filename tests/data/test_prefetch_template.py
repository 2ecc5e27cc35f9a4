from cds_service.data.prefetch_template import is_read, render_template, template_resource_type

CONTEXT = {
    "patientId": "pat-1",
    "userId": "Practitioner/pr-9",
    "encounterId": "enc 1",
    "selections": ["ServiceRequest/a"],
    "draftOrders": {"resourceType": "Bundle"},
}


def test_context_tokens_are_replaced():
    assert render_template("Condition?patient={{context.patientId}}", CONTEXT) == (
        "Condition?patient=pat-1"
    )


def test_token_values_are_url_encoded():
    assert render_template("Encounter/{{context.encounterId}}", CONTEXT) == "Encounter/enc%201"


def test_user_tokens_resolve_from_the_user_id_prefix():
    assert render_template("Practitioner/{{userPractitionerId}}", CONTEXT) == "Practitioner/pr-9"
    assert render_template("Patient/{{userPatientId}}", CONTEXT) is None


def test_non_primitive_or_missing_context_fields_are_not_tokens():
    assert render_template("X?a={{context.selections}}", CONTEXT) is None
    assert render_template("X?a={{context.draftOrders}}", CONTEXT) is None
    assert render_template("X?a={{context.nothing}}", CONTEXT) is None


def test_read_and_search_templates_are_told_apart():
    assert is_read("Patient/{{context.patientId}}")
    assert not is_read("Condition?patient={{context.patientId}}")
    assert template_resource_type("Observation?patient=x&_count=5") == "Observation"
    assert template_resource_type("Patient/{{context.patientId}}") == "Patient"
