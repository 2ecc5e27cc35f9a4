"""Properties of the request parser: any bytes, any JSON → a HookRequest or a 4xx ServiceError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.errors import ServiceError
from cds_service.protocol.catalogue import load_catalogue
from cds_service.protocol.hook_request import HookRequest
from cds_service.protocol.request_parser import RequestLimits, parse_feedback, parse_hook_request

CATALOGUE = load_catalogue()
SERVICES = {s.hook: s for s in CATALOGUE.services.values()}
LIMITS = RequestLimits(max_depth=8, max_prefetch_resources=5, max_draft_orders=3)
BOUNDED = settings(max_examples=150, deadline=None)

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
_fhir_id = st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True)
_reference = st.builds(
    lambda t, i: f"{t}/{i}", st.sampled_from(["Practitioner", "PractitionerRole"]), _fhir_id
)
_resource = st.fixed_dictionaries(
    {
        "resourceType": st.sampled_from(
            ["Patient", "Condition", "Observation", "Bundle", "OperationOutcome", ""]
        )
    },
    optional={
        "id": _fhir_id,
        "entry": st.lists(
            st.fixed_dictionaries({"resource": st.just({"resourceType": "Condition"})}), max_size=4
        ),
        "x": _json,
    },
)


@st.composite
def _requests(draw: Any) -> dict[str, Any]:
    """Near-valid hook requests with fields dropped, retyped or padded with junk."""
    hook = draw(st.sampled_from([*SERVICES, "other-hook", ""]))
    context: dict[str, Any] = {
        "userId": draw(st.one_of(_reference, _json)),
        "patientId": draw(st.one_of(_fhir_id, _json)),
    }
    if draw(st.booleans()):
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "entry": [{"resource": r} for r in draw(st.lists(_resource, max_size=5))],
        }
    if draw(st.booleans()):
        context["selections"] = draw(st.lists(st.text(max_size=20), max_size=3))
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": draw(st.one_of(st.text(min_size=1, max_size=40), _json)),
        "context": context,
    }
    if draw(st.booleans()):
        body["prefetch"] = draw(
            st.dictionaries(
                st.text(max_size=10), st.one_of(st.none(), _resource, _json), max_size=4
            )
        )
    if draw(st.booleans()):
        body["fhirServer"] = draw(st.one_of(st.just("https://ehr.example/fhir"), _json))
    if draw(st.booleans()):
        body["fhirAuthorization"] = draw(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "access_token": st.text(max_size=8),
                        "token_type": st.sampled_from(["Bearer", "bearer", "MAC"]),
                        "expires_in": st.integers(-5, 500),
                        "scope": st.text(max_size=5),
                        "subject": st.text(max_size=5),
                    }
                ),
                _json,
            )
        )
    for key in draw(
        st.lists(st.sampled_from(["hook", "hookInstance", "context", "extra"]), max_size=2)
    ):
        if key == "extra":
            body[draw(st.text(max_size=6))] = draw(_json)
        else:
            body.pop(key, None)
    return body


def _outcome_of(body: bytes, hook: str, limits: RequestLimits | None) -> HookRequest | ServiceError:
    try:
        return parse_hook_request(body, SERVICES[hook], CATALOGUE.request_validators[hook], limits)
    except ServiceError as exc:
        return exc


def _assert_clean(result: HookRequest | ServiceError, hook: str) -> None:
    if isinstance(result, ServiceError):
        assert result.status in (400, 413), result.status
        assert result.message and result.kind and len(result.message) < 600
        result.operation_outcome()
    else:
        assert isinstance(result, HookRequest) and result.hook == hook
        assert isinstance(result.context, dict) and isinstance(result.prefetch, dict)
        assert isinstance(result.draft_orders, list)
        assert isinstance(result.orders_in_scope(), list)


@BOUNDED
@given(st.binary(max_size=300), st.sampled_from(list(SERVICES)))
def test_any_bytes_give_a_request_or_a_400(body: bytes, hook: str) -> None:
    _assert_clean(_outcome_of(body, hook, LIMITS), hook)


@BOUNDED
@given(_json, st.sampled_from(list(SERVICES)))
def test_any_json_value_gives_a_request_or_a_4xx(doc: Any, hook: str) -> None:
    _assert_clean(_outcome_of(json.dumps(doc).encode(), hook, LIMITS), hook)


@BOUNDED
@given(_requests(), st.sampled_from(list(SERVICES)), st.booleans())
def test_near_valid_requests_give_a_request_or_a_4xx(
    doc: dict[str, Any], hook: str, limited: bool
) -> None:
    result = _outcome_of(json.dumps(doc).encode(), hook, LIMITS if limited else None)
    _assert_clean(result, hook)
    if isinstance(result, HookRequest):
        # Whatever passed is what the schema promises the later stages.
        assert result.hook_instance == doc["hookInstance"] and doc["hook"] == hook
        assert (result.fhir_authorization is None) or result.fhir_server


@BOUNDED
@given(st.one_of(_json, st.fixed_dictionaries({"feedback": _json})))
def test_any_feedback_gives_items_or_a_400(doc: Any) -> None:
    try:
        items = parse_feedback(json.dumps(doc).encode(), CATALOGUE.feedback_validator)
    except ServiceError as exc:
        assert exc.status == 400 and exc.message
    else:
        assert items and all(isinstance(item, dict) for item in items)
