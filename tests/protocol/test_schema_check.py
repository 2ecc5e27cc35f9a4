"""The compiled schema checks give jsonschema's verdict: on random schemas, and on Radix's own."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry

from cds_service.protocol.catalogue import load_catalogue
from cds_service.protocol.schema_check import SchemaValidator, compile_check

CATALOGUE = load_catalogue()
MANY = settings(max_examples=300, deadline=None)

# --- random schemas built from every keyword the compiler implements -------------------------

_KEYS = ["a", "b", "c"]
_TYPES = ["array", "boolean", "integer", "null", "number", "object", "string"]
# Numbers where JSON and Python disagree: 1 and 1.0 and True, 0 and False, -0.0.
_numbers = st.sampled_from([0, 1, -1, 2, 0.0, -0.0, 1.0, 1.5, -2.5, 10**20, 1e300])
_strings = st.sampled_from(["", "a", "ab", "ba", "1", "١", "a\n", "\x00", "é", "abc"])
_scalars = st.one_of(st.none(), st.booleans(), _numbers, _strings)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3)
    ),
    max_leaves=10,
)
_patterns = st.sampled_from(["^a", "b$", "^[^\\u0000]*$", "\\d", "^[A-Za-z0-9\\-.]{1,2}$", ""])
_key_lists = st.lists(st.sampled_from(_KEYS), unique=True, max_size=3)


def _keywords(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A few of these keywords (drawing every optional one makes generation the slow part)."""
    pairs = [st.tuples(st.just(keyword), value) for keyword, value in strategies.items()]
    return st.lists(st.one_of(pairs), max_size=3).map(dict)


_assertions = _keywords(
    type=st.sampled_from(_TYPES)
    | st.lists(st.sampled_from(_TYPES), min_size=1, max_size=3, unique=True),
    minLength=st.integers(0, 3),
    maxLength=st.integers(0, 3),
    pattern=_patterns,
    const=_values,
    enum=st.lists(_values, min_size=1, max_size=3),
    minimum=_numbers,
    maximum=_numbers,
    required=_key_lists,
    dependentRequired=st.dictionaries(st.sampled_from(_KEYS), _key_lists, max_size=2),
    minProperties=st.integers(0, 3),
    maxProperties=st.integers(0, 3),
    minItems=st.integers(0, 3),
    maxItems=st.integers(0, 3),
    format=st.sampled_from(["date-time", "uri"]),
    **{"$comment": st.just("ignored")},
)
_REF = {"$ref": "#/$defs/shared"}


def _applicators(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return _keywords(
        properties=st.dictionaries(st.sampled_from(_KEYS), inner, max_size=3),
        additionalProperties=inner,
        items=inner,
        allOf=st.lists(inner, min_size=1, max_size=2),
        anyOf=st.lists(inner, min_size=1, max_size=2),
        **{"not": inner, "if": inner, "then": inner, "else": inner},
    )


_schemas = st.recursive(
    st.booleans() | _assertions | st.just(_REF),
    lambda inner: st.builds(lambda a, b: {**a, **b}, _assertions, _applicators(inner)),
    max_leaves=4,
)
_roots = st.builds(
    lambda shared, body: {**body, "$defs": {"shared": shared}},
    st.booleans() | _assertions,
    st.builds(lambda a, b: {**a, **b}, _assertions, _applicators(_schemas)),
)


@MANY
@given(_roots, st.lists(_values, min_size=1, max_size=30))
def test_the_compiled_check_gives_jsonschemas_verdict_on_any_schema(schema, instances):
    Draft202012Validator.check_schema(schema)
    full = Draft202012Validator(schema)
    quick = compile_check(schema)
    for instance in instances:
        assert quick(instance) == full.is_valid(instance), instance


# Where Python and JSON Schema part ways: each case must get jsonschema's verdict.
_EDGES = [
    ({"const": True}, [True, 1, 1.0, False, "true"]),
    ({"const": 1}, [1, 1.0, True]),
    ({"const": [0, {"a": False}]}, [[0, {"a": False}], [False, {"a": 0}], [0.0, {"a": False}]]),
    ({"enum": [0, "x"]}, [0, False, -0.0, "x", None]),
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", 10**20, 1e300]),
    ({"type": "number"}, [1, 1.5, True, None]),
    ({"type": ["object", "null"]}, [None, {}, [], False]),
    ({"minimum": 1}, [True, 0, 1, 0.5, "0"]),
    ({"maximum": 0}, [False, 1, 0, "1"]),
    ({"pattern": "^[a-z]{1,2}$"}, ["ab", "ab\n", "abc", 7, None]),
    ({"pattern": "^\\d{2}$"}, ["12", "١٢", "1"]),
    ({"pattern": "^[^\u0000]*$"}, ["ok", "n\x00ul"]),
    ({"maxLength": 1}, ["é", "e\u0301", "ab", 12]),
    (
        {"properties": {"a": {"type": "string"}}, "additionalProperties": False},
        [{"a": "x"}, {"a": 1}, {"b": 1}, {}, []],
    ),
    (
        {"additionalProperties": {"type": "string"}, "properties": {"a": {}}},
        [{"a": 1, "b": "x"}, {"b": 2}],
    ),
    (
        {"if": {"required": ["a"]}, "then": {"required": ["b"]}, "else": {"required": ["c"]}},
        [{"a": 1, "b": 1}, {"a": 1}, {"c": 1}, {}, 5],
    ),
    ({"then": {"required": ["b"]}, "type": "object"}, [{}, 1]),  # no "if": "then" is inert
    ({"dependentRequired": {"a": ["b", "c"]}}, [{"a": 1, "b": 1}, {"a": 1, "b": 1, "c": 1}, {}]),
    ({"anyOf": [{"type": "string"}, {"required": ["a"]}]}, ["s", {"a": 1}, {}, 3]),
    ({"not": {"type": "null"}}, [None, 0]),
    ({"items": {"type": "integer"}, "minItems": 1, "maxItems": 2}, [[], [1], [1, 2, 3], [1.5]]),
    ({"required": ["a"], "maxProperties": 1, "minProperties": 1}, [{"a": 1}, {"a": 1, "b": 2}, {}]),
]


@pytest.mark.parametrize(("schema", "instances"), _EDGES)
def test_the_compiled_check_gives_jsonschemas_verdict_where_python_differs_from_json(
    schema, instances
):
    full, quick = Draft202012Validator(schema), compile_check(schema)
    verdicts = [full.is_valid(instance) for instance in instances]
    assert [quick(instance) for instance in instances] == verdicts
    assert True in verdicts and False in verdicts  # a case that cannot fail tests nothing


def test_a_schema_that_refers_to_itself_is_compiled_once_and_checked_to_any_depth():
    schema = {
        "$defs": {"tree": {"type": "array", "items": {"$ref": "#/$defs/tree"}}},
        "$ref": "#/$defs/tree",
    }
    check = compile_check(schema)
    assert check([[[], [[]]]]) and check([])
    assert not check([[[], [[1]]]]) and not check({})


def test_a_reference_to_another_schema_resolves_through_the_registry():
    request = CATALOGUE.schemas["patient-view.schema.json"]
    assert request["allOf"] == [{"$ref": "cds-request.schema.json"}]
    quick = CATALOGUE.request_validators["patient-view"].quick
    context = {"userId": "Practitioner/p", "patientId": "p"}
    assert quick({"hook": "patient-view", "hookInstance": "h", "context": context})
    # hookInstance is required by the schema referred to, not by patient-view's own.
    assert not quick({"hook": "patient-view", "context": context})


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "patternProperties": {"^x": {}}},
        {"type": "array", "prefixItems": [{}]},
        {"contains": {"const": 1}},
        {"properties": {"a": {"oneOf": [{}, {}]}}},
        {"$dynamicRef": "#x"},
    ],
)
def test_a_keyword_that_is_not_compiled_fails_the_compile_rather_than_pass_unchecked(schema):
    with pytest.raises(NotImplementedError, match="is not compiled"):
        compile_check(schema)


# --- Radix's request and feedback schemas ---------------------------------------------------


def _validators() -> dict[str, SchemaValidator]:
    return {**CATALOGUE.request_validators, "feedback": CATALOGUE.feedback_validator}


def test_every_schema_of_the_catalogue_compiles():
    assert set(_validators()) == {"patient-view", "order-select", "order-sign", "feedback"}


def test_the_validator_says_what_jsonschema_says_and_reports_jsonschemas_error():
    validator = CATALOGUE.request_validators["order-sign"]
    good = {
        "hook": "order-sign",
        "hookInstance": "h",
        "context": {
            "userId": "Practitioner/p",
            "patientId": "p",
            "draftOrders": {"resourceType": "Bundle", "entry": []},
        },
    }
    bad = {**good, "context": {**good["context"], "patientId": "no spaces"}}
    assert validator.is_valid(good) and list(validator.iter_errors(good)) == []
    assert validator.best_error(good) is None
    assert not validator.is_valid(bad)
    error = validator.best_error(bad)
    assert error is not None and list(error.absolute_path) == ["context", "patientId"]
    assert error.message == next(validator.full.iter_errors(bad)).message


def test_a_doubtful_quick_no_is_settled_by_jsonschema():
    # The closures only ever speed up a yes: were one stricter than jsonschema, jsonschema's
    # yes would still stand.
    full = CATALOGUE.feedback_validator.full
    doubtful = SchemaValidator(full, quick=lambda doc: False)
    doc = {
        "feedback": [
            {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-20T09:35:00Z"}
        ]
    }
    assert doubtful.is_valid(doc) and doubtful.best_error(doc) is None


def test_compiling_checks_the_schema_itself():
    from jsonschema.exceptions import SchemaError

    with pytest.raises(SchemaError):
        SchemaValidator.compile({"type": "objekt"}, Registry())
