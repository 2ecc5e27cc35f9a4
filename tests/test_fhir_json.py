"""The shared readers of FHIR JSON: one behaviour for every stage, whatever the input."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_service.fhir_json import as_list, concept_text, humanise, objects, reference

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["resourceType", "id", "text", "coding", "display", "x"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        ({"resourceType": "Condition", "id": "c1"}, "Condition/c1"),
        ({"resourceType": "Patient", "id": "p-1", "extra": []}, "Patient/p-1"),
        ({"resourceType": "Condition"}, None),
        ({"resourceType": "Condition", "id": ""}, None),
        ({"resourceType": "Condition", "id": 7}, None),
        ({"id": "c1"}, None),
        ({"resourceType": ["Condition"], "id": "c1"}, None),
        ({}, None),
        (None, None),
        ("Condition/c1", None),
        ([{"resourceType": "Condition", "id": "c1"}], None),
    ],
)
def test_reference(resource: Any, expected: str | None) -> None:
    assert reference(resource) == expected


def test_as_list() -> None:
    value = [1, {"a": 2}]
    assert as_list(value) is value
    for other in (None, {}, {"a": [1]}, "abc", 3, (1, 2)):
        assert as_list(other) == []


def test_objects() -> None:
    include = {"concept": [{"code": "a"}, "b", None, [], {"code": "c"}]}
    assert objects(include, "concept") == [{"code": "a"}, {"code": "c"}]
    assert objects(include, "filter") == []
    assert objects({"concept": {"code": "a"}}, "concept") == []
    assert objects(None, "concept") == [] and objects([include], "concept") == []


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({"text": " Lumbar MRI ", "coding": [{"display": "MRI"}]}, "Lumbar MRI"),
        ({"text": "  ", "coding": [{"display": " MRI lumbar spine "}]}, "MRI lumbar spine"),
        ({"coding": [{"code": "1"}, {"display": "Second"}]}, "Second"),
        # A blank display is no display: the next coding names the concept.
        ({"coding": [{"display": " "}, {"display": "Sciatica"}]}, "Sciatica"),
        ({"coding": [{"display": 3}, "x", {"display": "Sciatica"}]}, "Sciatica"),
        ({"text": 5, "coding": {"display": "not a list"}}, None),
        ({"coding": []}, None),
        ({}, None),
        (None, None),
        ("Sciatica", None),
    ],
)
def test_concept_text(concept: Any, expected: str | None) -> None:
    assert concept_text(concept) == expected


@pytest.mark.parametrize(
    ("identifier", "words"),
    [
        ("foot-drop", "foot drop"),
        ("cauda-equina", "cauda equina"),
        ("age_over_50", "age over 50"),
        ("a--b__c", "a b c"),
        ("-edge-", "edge"),
        ("plain", "plain"),
    ],
)
def test_humanise(identifier: str, words: str) -> None:
    assert humanise(identifier) == words


@given(_JSON, st.sampled_from(["coding", "x", "id"]))
def test_nothing_raises_on_any_json(value: Any, key: str) -> None:
    result = reference(value)
    assert result is None or result.count("/") >= 1
    assert isinstance(as_list(value), list)
    assert all(isinstance(item, dict) for item in objects(value, key))
    text = concept_text(value)
    assert text is None or (text and text == text.strip())
