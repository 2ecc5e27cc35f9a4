import orjson
import pytest

from cds_service.errors import ServiceError
from cds_service.protocol.catalogue import load_catalogue
from cds_service.protocol.request_parser import (
    RequestLimits,
    check_limits,
    json_depth,
    nesting_depth,
    parse_feedback,
    parse_hook_request,
)

CATALOGUE = load_catalogue()
SERVICES = {s.hook: s for s in CATALOGUE.services.values()}


def _request(hook: str = "patient-view", **changes) -> dict:
    body = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/pr1", "patientId": "pat1"},
    }
    if hook != "patient-view":
        body["context"]["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [],
        }
    if hook == "order-select":
        body["context"]["selections"] = ["ServiceRequest/sr1"]
    body.update(changes)
    return body


def _parse(body, hook: str = "patient-view"):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return parse_hook_request(raw, SERVICES[hook], CATALOGUE.request_validators[hook])


def _refused(body, hook: str = "patient-view") -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        _parse(body, hook)
    assert caught.value.status == 400
    return caught.value


@pytest.mark.parametrize("hook", ["patient-view", "order-select", "order-sign"])
def test_a_valid_request_of_each_hook_parses(hook):
    request = _parse(_request(hook), hook)
    assert request.hook == hook and request.patient_id == "pat1"
    assert request.prefetch == {} and request.fhir_authorization is None


def test_unknown_context_fields_and_extensions_are_tolerated():
    body = _request(extension={"com.example.x": {"a": 1}})
    body["context"]["com.vendor.screen"] = "chart"
    assert _parse(body).context["com.vendor.screen"] == "chart"


def test_sandbox_draft_orders_without_bundle_type_are_accepted():
    body = _request("order-select")
    body["context"]["draftOrders"] = {
        "resourceType": "Bundle",
        "entry": [{"resource": {"resourceType": "ServiceRequest", "id": "sr1", "status": "draft"}}],
    }
    assert _parse(body, "order-select").orders_in_scope()[0]["id"] == "sr1"


def test_order_select_scopes_to_the_selected_orders_only():
    body = _request("order-select")
    body["context"]["draftOrders"]["entry"] = [
        {"resource": {"resourceType": "ServiceRequest", "id": "sr1"}},
        {"resource": {"resourceType": "ServiceRequest", "id": "sr2"}},
        {"resource": {"resourceType": "MedicationRequest", "id": "sr1"}},
    ]
    scoped = _parse(body, "order-select").orders_in_scope()
    assert [(o["resourceType"], o["id"]) for o in scoped] == [("ServiceRequest", "sr1")]


def test_access_token_is_kept_but_never_printed():
    body = _request(
        fhirServer="https://ehr.example.org/fhir",
        fhirAuthorization={
            "access_token": "s3cr3t-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "radix",
        },
    )
    request = _parse(body)
    assert request.fhir_authorization.access_token == "s3cr3t-token"
    assert "s3cr3t-token" not in repr(request)


def test_not_json_is_refused():
    assert _refused(b"{not json").kind == "malformed-json"


def test_empty_body_is_refused():
    assert _refused(b"  ").kind == "empty-body"


def test_a_json_array_is_refused():
    assert _refused(b"[]").kind == "not-an-object"


def test_the_wrong_hook_for_the_service_is_refused():
    error = _refused(_request("order-sign"), "patient-view")
    assert error.kind == "wrong-hook" and "patient-view" in error.message


def test_missing_required_context_names_the_field():
    body = _request()
    del body["context"]["patientId"]
    assert "patientId" in _refused(body).message


def test_missing_hook_instance_is_refused():
    body = _request()
    del body["hookInstance"]
    assert "hookInstance" in _refused(body).message


def test_fhir_authorization_without_fhir_server_is_refused():
    body = _request(
        fhirAuthorization={
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "s",
            "subject": "x",
        }
    )
    assert "fhirServer" in _refused(body).message


def test_patient_id_that_could_inject_a_query_is_refused():
    body = _request()
    body["context"]["patientId"] = "pat1&_include=*"
    assert "patientId" in _refused(body).message


def test_order_select_needs_a_selection():
    body = _request("order-select")
    body["context"]["selections"] = []
    assert "selections" in _refused(body, "order-select").message


def test_a_prefetch_value_must_be_a_resource_or_null():
    assert "prefetch" in _refused(_request(prefetch={"patient": "Patient/1"})).message


# --- feedback -----------------------------------------------------------------------------


def _feedback(**item) -> bytes:
    base = {"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T09:30:00Z"}
    base.update(item)
    return orjson.dumps({"feedback": [base]})


def _feedback_refused(raw: bytes) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        parse_feedback(raw, CATALOGUE.feedback_validator)
    assert caught.value.status == 400
    return caught.value


def test_valid_feedback_parses():
    items = parse_feedback(
        _feedback(outcome="accepted", acceptedSuggestions=[{"id": "s1"}]),
        CATALOGUE.feedback_validator,
    )
    assert items[0]["acceptedSuggestions"] == [{"id": "s1"}]


def test_sandbox_override_reason_without_display_is_accepted():
    raw = _feedback(
        overrideReason={
            "reason": {"code": "patient-refuses", "system": "http://example.org/reasons"}
        }
    )
    assert parse_feedback(raw, CATALOGUE.feedback_validator)[0]["outcome"] == "overridden"


def test_accepted_feedback_needs_accepted_suggestions():
    assert "acceptedSuggestions" in _feedback_refused(_feedback(outcome="accepted")).message


def test_unknown_outcome_is_refused():
    _feedback_refused(_feedback(outcome="ignored"))


def test_override_reason_needs_a_reason_or_a_comment():
    _feedback_refused(_feedback(overrideReason={}))


def test_outcome_timestamp_must_be_a_date_time():
    _feedback_refused(_feedback(outcomeTimestamp="yesterday"))


# --- limits: depth (400) and resource counts (413) -----------------------------------------
LIMITS = RequestLimits(max_depth=10, max_prefetch_resources=3, max_draft_orders=2)


def _nested(depth: int) -> object:
    value: object = 1
    for n in range(depth):
        value = [value] if n % 2 else {"a": value}
    return value


@pytest.mark.parametrize("depth", [0, 1, 2, 9, 10, 11, 500])
def test_json_depth_counts_arrays_and_objects(depth):
    assert json_depth(_nested(depth), 1000) == depth


def test_json_depth_stops_counting_past_the_limit():
    assert 11 <= json_depth(_nested(100_000), 10) <= 12


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        (b"7", 0),
        (b'"[{"', 0),
        (b'{"a": "[[[[", "b\\"[": [1], "": ""}', 2),
        (b'["\\\\", ["\\\\\\"]]"]]', 2),  # escaped backslashes, then an escaped quote
        (b'[{"x": {}}, [[], [[]]]]', 4),
        ('{"é[": ["ü]"]}'.encode(), 2),
    ],
)
def test_depth_is_read_off_the_text_with_strings_and_escapes_skipped(text, depth):
    assert nesting_depth(text, 64) == depth == json_depth(orjson.loads(text), 64)


def test_depth_read_off_the_text_counts_a_repeated_keys_discarded_value_too():
    text = b'{"a": [[[[]]]], "a": 1}'
    assert (nesting_depth(text, 64), json_depth(orjson.loads(text), 64)) == (5, 1)
    assert nesting_depth(b"[" * 50 + b"]" * 50, 10) == 11  # stops counting past the limit


def test_nesting_at_the_limit_passes_and_beyond_it_is_a_400():
    body = _request(extension={"x": _nested(7)})  # request → extension → x → 7 levels = 9
    parse_hook_request(
        orjson.dumps(body),
        SERVICES["patient-view"],
        CATALOGUE.request_validators["patient-view"],
        LIMITS,
    )
    body = _request(extension={"x": _nested(9)})
    with pytest.raises(ServiceError) as caught:
        check_limits(body, LIMITS)
    assert (caught.value.status, caught.value.code, caught.value.kind) == (
        400,
        "structure",
        "too-deep",
    )


def _bundle(n: int) -> dict:
    return {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Condition"}}] * n}


def test_prefetch_resources_are_counted_across_keys_and_bundles():
    patient = {"resourceType": "Patient"}
    check_limits(_request(prefetch={"patient": patient, "c": _bundle(2)}), LIMITS)
    with pytest.raises(ServiceError) as caught:
        check_limits(
            _request(prefetch={"patient": {"resourceType": "Patient"}, "c": _bundle(3)}), LIMITS
        )
    assert (caught.value.status, caught.value.code) == (413, "too-costly")
    assert "prefetch" in caught.value.message


def test_null_and_odd_prefetch_values_count_nothing():
    check_limits(_request(prefetch={"a": None, "b": 7, "c": {"entry": "x"}, "d": []}), LIMITS)


def test_draft_orders_over_the_limit_are_a_413():
    body = _request("order-sign")
    body["context"]["draftOrders"] = _bundle(2)
    check_limits(body, LIMITS)
    body["context"]["draftOrders"] = _bundle(3)
    with pytest.raises(ServiceError) as caught:
        check_limits(body, LIMITS)
    assert caught.value.status == 413 and "draftOrders" in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://ehr.example/",
        "https://u:p@ehr.example/fhir",
        "http:///fhir",
        "http://[::1/fhir",
    ],
)
def test_a_fhir_server_that_is_not_an_http_url_with_a_host_is_a_400(url):
    error = _refused(_request(fhirServer=url))
    assert error.kind == "invalid-fhir-server" and "fhirServer" in error.message


def test_a_well_formed_fhir_server_is_kept_for_the_fetch_stage_to_judge():
    assert _parse(_request(fhirServer="http://169.254.169.254/fhir")).fhir_server == (
        "http://169.254.169.254/fhir"
    )


@pytest.mark.parametrize(
    "timestamp",
    [
        "2026-13-01T00:00:00Z",
        "2026-02-30T09:00:00Z",
        "2026-11-20T25:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_feedback_with_an_impossible_instant_is_a_400(timestamp):
    body = {"feedback": [{"card": "c", "outcome": "overridden", "outcomeTimestamp": timestamp}]}
    with pytest.raises(ServiceError) as caught:
        parse_feedback(orjson.dumps(body), CATALOGUE.feedback_validator)
    assert caught.value.status == 400 and "outcomeTimestamp" in caught.value.message


def test_feedback_with_a_lowercase_rfc3339_instant_parses():
    body = {
        "feedback": [
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-20t09:35:00.5z"}
        ]
    }
    assert parse_feedback(orjson.dumps(body), CATALOGUE.feedback_validator)[0]["card"] == "c"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"overriddeReason": {"reason": {"code": "c", "system": "s"}}}, "overriddeReason"),
        ({"overrideReason": {"reasons": {"code": "c", "system": "s"}}}, "reasons"),
        ({"overrideReason": {"reason": {"code": "c", "system": "s", "text": "t"}}}, "text"),
        ({"outcome": "accepted", "acceptedSuggestions": [{"id": "s", "label": "x"}]}, "label"),
    ],
)
def test_a_feedback_field_the_specification_does_not_define_is_named_and_refused(item, field):
    error = _feedback_refused(_feedback(**item))
    assert f"'{field}'" in error.message


def test_feedback_extension_and_full_codings_are_accepted():
    raw = _feedback(
        extension={"org.example.note": 1},
        overrideReason={
            "reason": {
                "code": "c",
                "system": "s",
                "display": "d",
                "version": "1",
                "userSelected": True,
            },
            "userComment": "seen",
        },
    )
    assert parse_feedback(raw, CATALOGUE.feedback_validator)[0]["extension"]


def _pat(patient_id: str = "pat1") -> dict:
    return {"resourceType": "Patient", "id": patient_id}


def _searchset(*resources: dict) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def _condition(reference: str) -> dict:
    return {"resourceType": "Condition", "id": "c9", "subject": {"reference": reference}}


def test_prefetch_of_another_patient_is_a_400_naming_the_mismatch():
    error = _refused(_request(prefetch={"patient": _pat("pat2")}))
    assert error.kind == "wrong-patient"
    assert "prefetch.patient" in error.message and "Patient/pat2" in error.message
    assert "'pat1'" in error.message


@pytest.mark.parametrize(
    "reference",
    ["Patient/pat2", "https://ehr.example/fhir/Patient/pat2", "Patient/pat2/_history/4"],
)
def test_a_prefetched_resource_about_another_patient_is_a_400(reference):
    error = _refused(_request(prefetch={"conditions": _searchset(_condition(reference))}))
    assert "prefetch.conditions" in error.message
    assert "Condition/c9, whose subject is Patient/pat2" in error.message


@pytest.mark.parametrize(
    "reference",
    ["Patient/pat1", "https://ehr.example/fhir/Patient/pat1/_history/4", "Group/everyone"],
)
def test_the_context_patient_in_any_reference_form_is_accepted(reference):
    request = _parse(
        _request(prefetch={"patient": _pat(), "conditions": _searchset(_condition(reference))})
    )
    assert request.patient_id == "pat1"


def test_a_draft_order_for_another_patient_is_a_400():
    body = _request("order-sign")
    body["context"]["draftOrders"]["entry"] = [
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "id": "sr1",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/pat2"},
                "code": {"text": "MRI"},
            }
        }
    ]
    error = _refused(body, "order-sign")
    assert "context.draftOrders" in error.message and "ServiceRequest/sr1" in error.message
