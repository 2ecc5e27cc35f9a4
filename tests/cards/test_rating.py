import uuid
from dataclasses import replace

from cds_service.cards import render
from cds_service.cards.rating import rating_action
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Evaluation
from tests.cards.factory import (
    CES_FLAG,
    assessment,
    draft_mri,
    draft_physiotherapy,
    pama,
    rating,
    request,
    suggested_orders,
)
from tests.cds_response_rules import assert_valid_response

CONFIG = ClinicalConfig()
ACR = "https://acsearch.acr.org/list/GetAppendix?PanelName=Neurologic&TopicId=141"
NICE = "https://www.nice.org.uk/guidance/ng59/chapter/Recommendations"


def test_rating_is_an_update_of_the_same_draft_with_the_argonaut_extensions():
    draft = draft_mri("d7")
    action = rating_action(
        rating(draft, "appropriate", rule="order-rating/red-flag"), request(), CONFIG
    )
    assert action["type"] == "update"
    resource = action["resource"]
    assert resource["id"] == "d7"
    assert [e["url"] for e in resource["extension"]] == [
        "http://fhir.org/argonaut/Extension/pama-rating",
        "http://fhir.org/argonaut/Extension/pama-rating-consult-id",
        "http://fhir.org/argonaut/Extension/pama-rating-auc-applied",
    ]
    extensions = pama(resource)
    assert extensions["pama-rating"] == "appropriate"
    assert uuid.UUID(extensions["pama-rating-consult-id"].removeprefix("urn:uuid:"))
    assert extensions["pama-rating-consult-id"].startswith("urn:uuid:")
    assert extensions["pama-rating-auc-applied"] == ACR
    assert {k: v for k, v in resource.items() if k != "extension"} == draft
    # No G-code: Radix is not a CMS-qualified CDS mechanism and must not claim to be one.
    assert not any("qcdsm" in e["url"] for e in resource["extension"])


def test_the_description_is_plain_words_without_rule_ids():
    action = rating_action(rating(draft_mri(), "not-appropriate"), request(), CONFIG)
    assert "not appropriate" in action["description"]
    assert "order-rating/" not in action["description"]


def test_uk_mode_names_nice_ng59_as_the_criteria_applied():
    uk = replace(CONFIG, practice_mode="uk")
    action = rating_action(rating(draft_mri(), "appropriate"), request(), uk)
    assert pama(action["resource"])["pama-rating-auc-applied"] == NICE


def test_consult_id_is_stable_for_the_call_patient_and_order_and_differs_otherwise():
    def consult(req, draft):
        action = rating_action(rating(draft, "appropriate"), req, CONFIG)
        return pama(action["resource"])["pama-rating-consult-id"]

    same = consult(request(hook_instance="h1"), draft_mri("a"))
    assert consult(request(hook_instance="h1"), draft_mri("a")) == same
    assert consult(request(hook_instance="h2"), draft_mri("a")) != same
    assert consult(request(hook_instance="h1"), draft_mri("b")) != same
    assert consult(request(hook_instance="h1", patientId="pat-2"), draft_mri("a")) != same


def test_every_order_a_suggestion_proposes_is_rated():
    draft = draft_mri()
    upgrade = rating(draft, "appropriate", rule="order-rating/red-flag", upgrade_to_stat=True)
    cases = [
        (Evaluation(assessment("emergency-referral"), new_mri_rating="appropriate"), request()),
        (Evaluation(assessment("urgent-imaging"), new_mri_rating="appropriate"), request()),
        (Evaluation(assessment("mri"), new_mri_rating="appropriate"), request()),
        (Evaluation(assessment("physiotherapy"), new_mri_rating="not-appropriate"), request()),
        (Evaluation(assessment("specialist-review"), new_mri_rating="not-appropriate"), request()),
        (
            Evaluation(
                assessment("emergency-referral"),
                order_ratings=(upgrade,),
                new_mri_rating="appropriate",
            ),
            request("order-sign", drafts=(draft,)),
        ),
        (
            Evaluation(
                assessment("physiotherapy"),
                order_ratings=(rating(draft),),
                new_mri_rating="not-appropriate",
            ),
            request("order-select", drafts=(draft,)),
        ),
    ]
    seen = set()
    for evaluation, req in cases:
        body = render(evaluation, req, CONFIG)
        assert_valid_response(body)
        for order in suggested_orders(body):
            extensions = pama(order)
            assert set(extensions) == {
                "pama-rating",
                "pama-rating-consult-id",
                "pama-rating-auc-applied",
            }, order
            category = {c["code"] for cat in order.get("category", []) for c in cat["coding"]}
            if order.get("id") == draft["id"]:
                expected = "appropriate"  # the draft made stat keeps its own rating
            elif "363679005" in category:  # imaging: rated like a new MRI order now
                expected = evaluation.new_mri_rating
            else:  # a referral: imaging criteria do not apply
                expected = "no-criteria-apply"
            assert extensions["pama-rating"] == expected, order
            seen.add(expected)
    assert seen == {"appropriate", "no-criteria-apply"}


def test_the_stat_upgrade_carries_the_same_consult_id_as_the_drafts_rating():
    draft = draft_mri()
    upgrade = rating(draft, "appropriate", rule="order-rating/red-flag", upgrade_to_stat=True)
    ev = Evaluation(
        assessment("emergency-referral", red_flags=(CES_FLAG,)), order_ratings=(upgrade,)
    )
    body = render(ev, request("order-sign", drafts=(draft,)), CONFIG)
    (system_action,) = body["systemActions"]
    (stat,) = [o for o in suggested_orders(body) if o.get("id") == draft["id"]]
    assert stat["priority"] == "stat"
    assert pama(stat) == pama(system_action["resource"])


def test_a_referral_ordered_by_the_clinician_is_not_rated():
    body = render(
        Evaluation(assessment("physiotherapy")),
        request("order-sign", drafts=(draft_physiotherapy(),)),
        CONFIG,
    )
    assert "systemActions" not in body
