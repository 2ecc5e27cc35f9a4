from cds_service.cards.card import ASSESSMENT_EXTENSION, card, create, delete, suggestion, update
from tests.cards.factory import assessment, request

REQUEST = request()


def _card(**changes):
    kwargs = {
        "summary": "Probable left L5 radiculopathy (L4-L5): physiotherapy referral",
        "indicator": "info",
        "topic": "physiotherapy",
        "detail": "**Physiotherapy**",
        "assessment": assessment(),
    }
    kwargs.update(changes)
    return card(REQUEST, "disposition/physiotherapy", **kwargs)


def test_card_omits_every_empty_optional_field():
    out = _card(detail="")
    assert set(out) == {"uuid", "summary", "indicator", "source", "extension"}


def test_source_is_radix_with_a_topic():
    source = _card()["source"]
    assert source["label"] == "Radix"
    assert source["url"].startswith("https://")
    assert source["topic"]["code"] == "physiotherapy"
    assert source["topic"]["display"]


def test_every_card_carries_the_assessment():
    a = assessment()
    assert _card(assessment=a)["extension"] == {ASSESSMENT_EXTENSION: a.to_extension()}


def test_selection_behaviour_comes_with_suggestions_only():
    s = suggestion(REQUEST, "k/s", "Refer", [create({"resourceType": "ServiceRequest"}, "d")])
    out = _card(suggestions=[s], selection_behavior="any")
    assert out["selectionBehavior"] == "any"
    assert "selectionBehavior" not in _card()


def test_suggestion_is_recommended_only_when_asked_and_has_no_empty_actions():
    plain = suggestion(REQUEST, "k/s", "Label", [])
    assert set(plain) == {"label", "uuid"}
    assert suggestion(REQUEST, "k/s", "Label", [], recommended=True)["isRecommended"] is True


def test_actions():
    resource = {"resourceType": "ServiceRequest", "id": "x"}
    assert create(resource, "d") == {"type": "create", "description": "d", "resource": resource}
    assert update(resource, "d")["type"] == "update"
    assert delete("ServiceRequest/x", "d") == {
        "type": "delete",
        "description": "d",
        "resourceId": "ServiceRequest/x",
    }


def test_every_topic_is_published_in_the_card_topic_code_system():
    import json

    from cds_service.cards.card import _TOPICS, TOPIC_SYSTEM
    from cds_service.resources import data_dir

    path = data_dir("valuesets") / "CodeSystem-card-topic.json"
    published = json.loads(path.read_text(encoding="utf-8"))
    assert published["url"] == TOPIC_SYSTEM
    assert {c["code"]: c["display"] for c in published["concept"]} == _TOPICS
    for topic in _TOPICS:
        shown = _card(topic=topic)["source"]["topic"]
        assert (shown["system"], shown["display"]) == (TOPIC_SYSTEM, _TOPICS[topic])
