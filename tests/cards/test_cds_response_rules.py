"""The response checker must catch each rule it claims to check (tests/cds_response_rules.py)."""

import copy

import pytest

from tests.cds_response_rules import assert_valid_response, response_problems

_RESOURCE = {
    "resourceType": "ServiceRequest",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": "Patient/p"},
}

VALID = {
    "cards": [
        {
            "uuid": "7f1a8c0e-0c38-4b1f-9f54-5f5f2b7f5c01",
            "summary": "Probable left L5 radiculopathy (L4-L5): physiotherapy referral",
            "indicator": "info",
            "source": {"label": "Radix", "url": "https://radix-cds.org"},
            "detail": "**Physiotherapy**",
            "suggestions": [
                {
                    "label": "Refer",
                    "uuid": "7f1a8c0e-0c38-4b1f-9f54-5f5f2b7f5c02",
                    "isRecommended": True,
                    "actions": [
                        {"type": "create", "description": "Create", "resource": _RESOURCE},
                        {
                            "type": "delete",
                            "description": "Cancel",
                            "resourceId": "ServiceRequest/d1",
                        },
                    ],
                }
            ],
            "selectionBehavior": "at-most-one",
            "overrideReasons": [{"code": "c", "system": "https://s", "display": "D"}],
            "links": [
                {
                    "label": "NICE",
                    "url": "https://www.nice.org.uk/guidance/ng59",
                    "type": "absolute",
                }
            ],
            "extension": {"org.radix-cds.assessment": {"disposition": "physiotherapy"}},
        }
    ],
    "systemActions": [
        {"type": "update", "description": "Rating", "resource": {**_RESOURCE, "id": "d1"}}
    ],
}


def _broken(path, value):
    body = copy.deepcopy(VALID)
    *parents, last = path
    target = body
    for key in parents:
        target = target[key]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return body


_DELETE = object()
CARD = ("cards", 0)
ACTION = (*CARD, "suggestions", 0, "actions")


def test_a_valid_body_passes():
    assert_valid_response(VALID)
    assert_valid_response({"cards": []})


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ((*CARD, "summary"), "x" * 140, "under 140"),
        ((*CARD, "indicator"), "hard-stop", "indicator"),
        ((*CARD, "source"), {"url": "https://radix-cds.org"}, "source.label"),
        ((*CARD, "uuid"), _DELETE, "uuid"),
        ((*CARD, "selectionBehavior"), _DELETE, "cds-resp-6"),
        (
            (*ACTION, 1),
            {"type": "delete", "description": "Cancel", "resource": _RESOURCE},
            "cds-resp-2",
        ),
        ((*ACTION, 0, "description"), _DELETE, "cds-resp-5"),
        ((*ACTION, 0, "resource"), _DELETE, "full FHIR resource"),
        ((*ACTION, 0, "resource"), {"resourceType": "ServiceRequest", "status": "bogus"}, "R4B"),
        ((*CARD, "overrideReasons", 0, "display"), _DELETE, "cds-resp-4"),
        ((*CARD, "links", 0, "appContext"), "ctx", "cds-resp-3"),
        ((*CARD, "detail"), "", "omit empty"),
        ((*CARD, "links"), [], "omit empty"),
        ((*CARD, "extension"), {}, "omit empty"),
        ((*CARD, "source", "url"), None, "omit empty"),
        ((*ACTION, 0, "resource", "note"), [], "omit empty"),
        (("systemActions",), [], "non-empty"),
        (("systemActions", 0, "resource", "id"), _DELETE, "update names"),
    ],
)
def test_each_rule_is_caught(path, value, expected):
    problems = response_problems(_broken(path, value))
    assert any(expected in p for p in problems), problems
    with pytest.raises(AssertionError):
        assert_valid_response(_broken(path, value))


def test_at_most_one_with_two_recommended_breaks_cds_resp_1():
    body = copy.deepcopy(VALID)
    card = body["cards"][0]
    card["suggestions"].append(
        {**card["suggestions"][0], "uuid": "7f1a8c0e-0c38-4b1f-9f54-5f5f2b7f5c03"}
    )
    assert any("cds-resp-1" in p for p in response_problems(body))
    card["selectionBehavior"] = "any"
    assert_valid_response(body)


def test_repeated_uuid_is_caught():
    body = copy.deepcopy(VALID)
    body["cards"][0]["suggestions"][0]["uuid"] = body["cards"][0]["uuid"]
    assert any("more than once" in p for p in response_problems(body))


def test_unknown_fields_and_missing_cards_are_caught():
    assert any("schema" in p for p in response_problems(_broken((*CARD, "colour"), "red")))
    assert response_problems({"systemActions": []})
    assert response_problems([]) == ["body is not a JSON object"]
