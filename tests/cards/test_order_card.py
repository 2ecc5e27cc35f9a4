from cds_service.cards import phrase, render
from cds_service.cards.order_card import order_cards
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Evaluation
from tests.cards.factory import (
    MALIGNANCY_FLAG,
    assessment,
    draft_mri,
    draft_physiotherapy,
    pama,
    rating,
    request,
)
from tests.cds_response_rules import assert_valid_response

CONFIG = ClinicalConfig()


def _cards(ev, hook="order-select", drafts=()):
    cards = order_cards(ev, request(hook, drafts=drafts), CONFIG)
    assert_valid_response({"cards": cards})
    return cards


def _actions(card):
    (suggestion,) = card["suggestions"]
    return suggestion["actions"]


def test_appropriate_order_without_flags_gets_no_card():
    draft = draft_mri()
    ev = Evaluation(assessment("mri"), order_ratings=(rating(draft, "appropriate"),))
    assert _cards(ev, drafts=(draft,)) == []


def test_not_appropriate_mri_gets_a_warning_swapping_it_for_physiotherapy():
    draft = draft_mri(
        reasonCode=[{"coding": [{"system": "http://snomed.info/sct", "code": "23056005"}]}]
    )
    ev = Evaluation(assessment("physiotherapy"), order_ratings=(rating(draft),))
    (card,) = _cards(ev, drafts=(draft,))
    assert card["indicator"] == "warning"
    assert "not yet indicated" in card["summary"]
    assert "Radicular symptoms for 2 weeks without red flags" in card["detail"]
    assert card["selectionBehavior"] == "at-most-one"
    cancel, create = _actions(card)
    assert cancel == {
        "type": "delete",
        "description": cancel["description"],
        "resourceId": "ServiceRequest/draft-mri",
    }
    assert create["type"] == "create"
    assert create["resource"]["code"]["coding"][0]["code"] == "308447003"
    assert create["resource"]["reasonCode"] == draft["reasonCode"]
    codes = [r["code"] for r in card["overrideReasons"]]
    assert "red-flag-not-recorded" in codes
    assert all(r["display"] for r in card["overrideReasons"])
    assert "Safety-netting" in card["detail"]


def test_not_appropriate_with_physiotherapy_already_ordered_only_cancels():
    mri, pt = draft_mri(), draft_physiotherapy()
    ev = Evaluation(
        assessment("physiotherapy"),
        order_ratings=(rating(mri),),
        physiotherapy_orders=("ServiceRequest/draft-pt",),
    )
    (card,) = _cards(ev, hook="order-sign", drafts=(mri, pt))
    (cancel,) = _actions(card)
    assert cancel["type"] == "delete"


def test_duplicate_mri_is_swapped_for_a_specialist_referral():
    draft = draft_mri()
    a = assessment("specialist-review", recent_lumbar_mri="ImagingStudy/mri-2026")
    ev = Evaluation(a, order_ratings=(rating(draft, rule="order-rating/recent-mri"),))
    (card,) = _cards(ev, drafts=(draft,))
    assert "repeat MRI not indicated" in card["summary"]
    cancel, create = _actions(card)
    assert cancel["resourceId"] == "ServiceRequest/draft-mri"
    assert create["resource"]["code"]["coding"][0]["code"] == "308482002"
    assert create["resource"]["supportingInfo"] == [{"reference": "ImagingStudy/mri-2026"}]
    assert "imaging-unavailable-or-outdated" in [r["code"] for r in card["overrideReasons"]]


def test_each_not_appropriate_order_gets_its_own_card():
    first, second = draft_mri("m1"), draft_mri("m2", code="72158")
    ev = Evaluation(assessment("physiotherapy"), order_ratings=(rating(first), rating(second)))
    cards = _cards(ev, drafts=(first, second))
    assert [_actions(c)[0]["resourceId"] for c in cards] == [
        "ServiceRequest/m1",
        "ServiceRequest/m2",
    ]
    assert len({c["uuid"] for c in cards}) == 2


def test_emergency_upgrades_the_draft_mri_to_stat_instead_of_a_second_mri():
    draft = draft_mri()
    ev = Evaluation(
        assessment("emergency-referral"),
        order_ratings=(
            rating(draft, "appropriate", rule="order-rating/red-flag", upgrade_to_stat=True),
        ),
    )
    body = render(ev, request("order-select", drafts=(draft,)), CONFIG)
    assert_valid_response(body)
    (card,) = body["cards"]
    assert card["indicator"] == "critical"
    referral, upgrade = card["suggestions"]
    assert referral["actions"][0]["resource"]["priority"] == "stat"
    (action,) = upgrade["actions"]
    assert action["type"] == "update"
    resource = action["resource"]
    assert (resource["id"], resource["priority"]) == ("draft-mri", "stat")
    assert pama(resource)["pama-rating"] == "appropriate"  # the draft's own rating
    unchanged = {k: v for k, v in resource.items() if k not in ("priority", "extension")}
    assert unchanged == {k: v for k, v in draft.items() if k != "priority"}
    creates = [
        a["resource"] for s in card["suggestions"] for a in s["actions"] if a["type"] == "create"
    ]
    assert [r["code"]["coding"][0]["code"] for r in creates] == ["308482002"]


def test_emergency_with_a_stat_draft_mri_needs_no_upgrade():
    draft = draft_mri(priority="stat")
    ev = Evaluation(
        assessment("emergency-referral"),
        order_ratings=(rating(draft, "appropriate", rule="order-rating/red-flag"),),
    )
    (card,) = _cards(ev, drafts=(draft,))
    (referral,) = card["suggestions"]
    assert referral["actions"][0]["resource"]["code"]["coding"][0]["code"] == "308482002"
    assert "already stat" in card["detail"]


def test_emergency_with_physiotherapy_ordered_adds_a_warning_after_the_critical_card():
    pt = draft_physiotherapy()
    ev = Evaluation(
        assessment("emergency-referral"), physiotherapy_orders=("ServiceRequest/draft-pt",)
    )
    critical, warning = _cards(ev, drafts=(pt,))
    assert critical["indicator"] == "critical"
    assert len(critical["suggestions"]) == 2  # referral and a new stat MRI: none is being ordered
    assert warning["indicator"] == "warning"
    assert "emergency spinal review comes first" in warning["summary"]
    assert "suggestions" not in warning


def test_physiotherapy_with_urgent_flags_suggests_the_urgent_mri():
    pt = draft_physiotherapy()
    ev = Evaluation(
        assessment("urgent-imaging", red_flags=(MALIGNANCY_FLAG,)),
        physiotherapy_orders=("ServiceRequest/draft-pt",),
    )
    (card,) = _cards(ev, drafts=(pt,))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Malignancy")
    mri = _actions(card)[0]["resource"]
    assert (mri["code"]["coding"][0]["code"], mri["priority"]) == ("72158", "urgent")


def test_physiotherapy_without_red_flags_gets_no_card():
    ev = Evaluation(assessment("physiotherapy"), physiotherapy_orders=("ServiceRequest/draft-pt",))
    assert _cards(ev, drafts=(draft_physiotherapy(),)) == []


def test_urgent_flags_alone_give_no_card_on_order_hooks():
    draft = draft_mri()
    ev = Evaluation(
        assessment("urgent-imaging", red_flags=(MALIGNANCY_FLAG,)),
        order_ratings=(rating(draft, "appropriate", rule="order-rating/red-flag"),),
    )
    assert _cards(ev, drafts=(draft,)) == []


def test_a_draft_with_a_malformed_reason_code_still_gets_its_card_with_radixs_own_reason():
    # Such a draft once made the whole call a 500: the referral carried its reasonCode to
    # fhir.resources, which refused it. Now only the valid part of a draft's reasons is carried.
    draft = draft_mri(reasonCode=[{"coding": "x", "foo": 1}, {"text": ""}])
    ev = Evaluation(assessment("physiotherapy"), order_ratings=(rating(draft),))
    (card,) = _cards(ev, drafts=(draft,))
    _, create = _actions(card)
    assert create["resource"]["reasonCode"] == [{"text": phrase.syndrome(ev.assessment, CONFIG)}]
