"""Properties of the request parser: any bytes, any JSON → a HookRequest or a 4xx ServiceError."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.errors import ServiceError
from cds_service.protocol.catalogue import load_catalogue
from cds_service.protocol.hook_request import HookRequest
from cds_service.protocol.request_parser import (
    RequestLimits,
    check_limits,
    decode_json,
    json_depth,
    nesting_depth,
    parse_feedback,
    parse_hook_request,
)
from cds_service.protocol.schema_check import SchemaValidator

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


# --- the fast path refuses exactly what the full validation refuses --------------------------

#: Text that JSON must escape or that looks like structure: brackets, quotes, backslashes.
_tricky_text = st.text(
    st.sampled_from('[]{}"\\:,/ aZ0-.é\u2028\x00\n') | st.characters(codec="utf-8"), max_size=12
)
_tricky_json = st.recursive(
    st.none() | st.booleans() | st.integers() | _tricky_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_tricky_text, inner, max_size=4),
    max_leaves=30,
)


def _full_only(hook: str) -> SchemaValidator:
    """The hook's validator without its compiled closures: jsonschema judges every document."""
    validator = _validator(hook)
    return SchemaValidator(validator.full, quick=lambda doc: False)


def _validator(hook: str) -> SchemaValidator:
    if hook == "feedback":
        return CATALOGUE.feedback_validator
    return CATALOGUE.request_validators[hook]


def _full_outcome(body: bytes, hook: str, limits: RequestLimits | None) -> object:
    """What the parse gave before it had a fast path: the depth walked over the decoded value,
    every document through jsonschema."""
    try:
        if limits is not None:
            check_limits(decode_json(body), limits)  # no text: json_depth walks every container
        if hook == "feedback":
            return parse_feedback(body, _full_only(hook))
        return parse_hook_request(body, SERVICES[hook], _full_only(hook))
    except ServiceError as exc:
        return exc


def _fast_outcome(body: bytes, hook: str, limits: RequestLimits | None) -> object:
    try:
        if hook == "feedback":
            return parse_feedback(body, _validator(hook), limits)
        return parse_hook_request(body, SERVICES[hook], _validator(hook), limits)
    except ServiceError as exc:
        return exc


def _same(fast: object, full: object) -> None:
    if isinstance(full, ServiceError):
        assert isinstance(fast, ServiceError), (fast, full.message)
        assert (fast.status, fast.code, fast.kind, fast.message) == (
            full.status,
            full.code,
            full.kind,
            full.message,
        )
    else:
        assert not isinstance(fast, ServiceError), (fast.message, full)
        assert fast == full


#: Values one step from valid: wrong type, empty, out of pattern, too long, a trailing newline.
_near_misses = (
    st.sampled_from(
        [
            "",
            "x y",
            "Patient/p",
            "Practitioner/",
            "Practitioner/p\n",
            -1,
            1.0,
            2.5,
            True,
            None,
            [],
            {},
            "a" * 300,
            "bearer\n",
            "Bundle",
            "c\x00",
            "overridden",
            "2026-11-20T09:35:00Z",
        ]
    )
    | _tricky_json
)


def _mutated(
    doc: dict[str, Any], draw: Any, paths: list[tuple[str, ...]], most: int = 2
) -> dict[str, Any]:
    """``doc`` with up to ``most`` members removed or set to a near miss (a copy: no aliasing)."""
    doc = json.loads(json.dumps(doc))
    for path in draw(st.lists(st.sampled_from(paths), max_size=most)):
        parent: Any = doc
        for step in path[:-1]:
            parent = parent.get(step) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            if draw(st.booleans()):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(_near_misses)
    return doc


_REQUEST_PATHS = [
    ("hook",),
    ("hookInstance",),
    ("context",),
    ("context", "userId"),
    ("context", "patientId"),
    ("context", "encounterId"),
    ("context", "selections"),
    ("context", "draftOrders"),
    ("context", "draftOrders", "resourceType"),
    ("context", "draftOrders", "entry"),
    ("prefetch",),
    ("prefetch", "patient"),
    ("prefetch", "patient", "resourceType"),
    ("prefetch", "conditions"),
    ("fhirServer",),
    ("fhirAuthorization",),
    ("fhirAuthorization", "access_token"),
    ("fhirAuthorization", "token_type"),
    ("fhirAuthorization", "expires_in"),
    ("fhirAuthorization", "subject"),
    ("extension",),
]


@st.composite
def _hook_requests(draw: Any, hook: str) -> dict[str, Any]:
    """Valid requests of ``hook`` with a realistic record, then perhaps a mutation or two."""
    patient = draw(_fhir_id)
    subject = draw(st.sampled_from([patient, patient, "someone-else"]))

    def resource(kind: str) -> dict[str, Any]:
        value = {
            "resourceType": kind,
            "id": draw(_fhir_id),
            "subject": {"reference": f"Patient/{subject}"},
        }
        if draw(st.booleans()):
            value["note"] = [{"text": draw(_tricky_text)}, draw(_tricky_json)]
        return value

    def bundle(kind: str) -> dict[str, Any]:
        entries = [{"resource": resource(kind)} for _ in range(draw(st.integers(0, 3)))]
        return {"resourceType": "Bundle", "type": "searchset", "entry": entries}

    context: dict[str, Any] = {"userId": draw(_reference), "patientId": patient}
    if draw(st.booleans()):
        context["encounterId"] = draw(_fhir_id)
    if hook != "patient-view":
        context["draftOrders"] = bundle("ServiceRequest")
    if hook == "order-select":
        context["selections"] = draw(st.lists(_reference, min_size=1, max_size=2))
    doc: dict[str, Any] = {
        "hook": hook,
        "hookInstance": draw(st.text(min_size=1, max_size=40)),
        "context": context,
    }
    if draw(st.booleans()):
        doc["prefetch"] = {
            "patient": {"resourceType": "Patient", "id": draw(st.sampled_from([patient, "x"]))},
            "conditions": draw(st.sampled_from([None, "bundle"])) and bundle("Condition"),
            "failed": {"resourceType": "OperationOutcome", "issue": []},
        }
    if draw(st.booleans()):
        doc["fhirServer"] = "https://ehr.example/fhir"
        doc["fhirAuthorization"] = {
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "s",
            "subject": "c",
        }
    if draw(st.booleans()):
        doc["extension"] = {"x": draw(_tricky_json)}
    return _mutated(doc, draw, _REQUEST_PATHS)


_FEEDBACK_PATHS = [
    ("feedback",),
    ("card",),
    ("outcome",),
    ("outcomeTimestamp",),
    ("acceptedSuggestions",),
    ("overrideReason",),
    ("overrideReason", "reason"),
    ("overrideReason", "reason", "code"),
    ("overrideReason", "reason", "display"),
    ("overrideReason", "userComment"),
    ("extension",),
    ("other",),
]


@st.composite
def _feedback_docs(draw: Any) -> dict[str, Any]:
    """Valid feedback, then perhaps a mutation or two of the document or of one item."""
    timestamps = st.sampled_from(
        [
            "2026-11-20T09:35:00Z",
            "2026-11-20t09:35:00.5+01:00",
            "2026-11-20T09:35:00-05:00",
            "2026-02-30T09:35:00Z",
        ]
    )

    def item() -> dict[str, Any]:
        outcome = draw(st.sampled_from(["accepted", "overridden"]))
        value: dict[str, Any] = {
            "card": draw(st.text(min_size=1, max_size=20)),
            "outcome": outcome,
            "outcomeTimestamp": draw(timestamps),
        }
        if outcome == "accepted":
            value["acceptedSuggestions"] = [{"id": draw(st.text(min_size=1, max_size=8))}]
        elif draw(st.booleans()):
            value["overrideReason"] = {
                "reason": {"code": "c", "system": "s", "display": "d"},
                "userComment": "u",
            }
        if draw(st.booleans()):
            value["extension"] = {"x": draw(_tricky_json)}
        return _mutated(value, draw, _FEEDBACK_PATHS[1:])

    doc = {"feedback": [item() for _ in range(draw(st.integers(1, 3)))]}
    return _mutated(doc, draw, [("feedback",), ("other",)], most=1)


def _with_padding(doc: Any, draw: Any) -> Any:
    """``doc`` with tricky JSON under an unconstrained member, so depth and text vary."""
    if isinstance(doc, dict) and draw(st.booleans()):
        doc = {**doc, "extension": {"x": draw(_tricky_json)}}
    return doc


_SOME_LIMITS = st.sampled_from([None, LIMITS, RequestLimits(), RequestLimits(max_depth=6)])
_STYLES = {
    "compact": lambda doc: json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(),
    "spaced": lambda doc: json.dumps(doc, indent=1, ensure_ascii=False).encode(),
    "ascii": lambda doc: json.dumps(doc).encode(),
}
_styles = st.sampled_from(sorted(_STYLES))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(list(SERVICES)), st.data(), _SOME_LIMITS, _styles)
def test_the_fast_path_refuses_exactly_the_requests_the_full_validation_refuses(
    hook, data, limits, style
):
    strategy = _hook_requests(hook) | _hook_requests(hook) | _requests() | _json
    doc = _with_padding(data.draw(strategy, label="doc"), data.draw)
    body = _STYLES[style](doc)
    _same(_fast_outcome(body, hook, limits), _full_outcome(body, hook, limits))


@settings(max_examples=300, deadline=None)
@given(_feedback_docs() | _feedback_docs() | _json, _SOME_LIMITS, _styles)
def test_the_fast_path_refuses_exactly_the_feedback_the_full_validation_refuses(doc, limits, style):
    body = _STYLES[style](doc)
    _same(_fast_outcome(body, "feedback", limits), _full_outcome(body, "feedback", limits))


@BOUNDED
@given(_tricky_json, st.integers(0, 12))
def test_depth_read_off_the_text_is_the_depth_of_the_value(doc, stop_above):
    expected = json_depth(doc, stop_above)
    for text in (
        json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode(),
        json.dumps(doc).encode(),
        json.dumps(doc, indent=2, ensure_ascii=False).encode(),
    ):
        assert nesting_depth(text, stop_above) == expected
