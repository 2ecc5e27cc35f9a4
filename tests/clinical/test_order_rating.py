from __future__ import annotations

from typing import Any

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.evaluation import Evaluation
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def _evaluate(
    record: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    knowledge: Knowledge,
    hook: str = "order-sign",
) -> Evaluation:
    return evaluate(
        record, orders, hook=hook, now=r.NOW, knowledge=knowledge, config=ClinicalConfig()
    )


def _rating(
    record: list[dict[str, Any]], knowledge: Knowledge, order: dict | None = None
) -> tuple[str, str]:
    (rating,) = _evaluate(record, [order or r.draft_mri()], knowledge).order_ratings
    return rating.rating, rating.rule


def test_no_criteria_apply(knowledge: Knowledge) -> None:
    assert _rating([r.condition("I10")], knowledge)[0] == "no-criteria-apply"


def test_under_six_weeks_and_unknown_duration(knowledge: Knowledge) -> None:
    assert _rating([r.sciatica(days=20)], knowledge)[0] == "not-appropriate"
    assert _rating([r.condition("M54.16", days=None)], knowledge)[0] == "not-appropriate"
    assert _rating([r.sciatica(days=70)], knowledge)[0] == "not-appropriate"


def test_persistent_after_conservative_care(knowledge: Knowledge) -> None:
    record = [r.condition("M54.50", days=60), r.procedure("410160006", days=45)]
    assert _rating(record, knowledge)[0] == "appropriate"


def test_duplicate_mri_unless_new_evidence(knowledge: Knowledge) -> None:
    record = [
        r.sciatica(days=90),
        r.procedure("410160006", days=80),
        r.procedure("394451000119106", days=60),
    ]
    assert _rating(record, knowledge) == ("not-appropriate", "order-rating/duplicate-mri")
    other = r.draft_mri("72131")
    assert _rating(record, knowledge, other)[0] == "appropriate"  # not an MRI: no duplicate
    old_flag = [*record, r.condition("C61", days=400)]
    assert _rating(old_flag, knowledge)[1] == "order-rating/duplicate-mri"
    new_flag = [*record, r.condition("R33.9", days=3)]
    assert _rating(new_flag, knowledge) == ("appropriate", "order-rating/red-flag")
    undated_flag = [*record, r.condition("C61", days=None)]
    assert _rating(undated_flag, knowledge)[0] == "appropriate"


def test_emergency_upgrades_a_routine_mri_to_stat(knowledge: Knowledge) -> None:
    record = [r.sciatica(), r.condition("G83.4", days=1)]
    routine, stat = r.draft_mri(), r.draft_mri(priority="stat")
    ratings = _evaluate(record, [routine, stat], knowledge).order_ratings
    assert [x.upgrade_to_stat for x in ratings] == [True, False]
    urgent = [r.sciatica(), r.condition("C61")]
    assert not _evaluate(urgent, [routine], knowledge).order_ratings[0].upgrade_to_stat


def test_physiotherapy_and_other_orders(knowledge: Knowledge) -> None:
    physio = r.service_request("308447003", status="draft", days=0)
    medication = {"resourceType": "MedicationRequest", "id": "m1", "status": "draft"}
    evaluation = _evaluate([r.sciatica(), r.condition("C61")], [physio, medication], knowledge)
    assert evaluation.order_ratings == ()
    assert evaluation.physiotherapy_orders == (f"ServiceRequest/{physio['id']}",)
    assert evaluation.orders_in_scope == (f"ServiceRequest/{physio['id']}", "MedicationRequest/m1")


def test_orders_are_ignored_on_patient_view(knowledge: Knowledge) -> None:
    evaluation = _evaluate([r.sciatica()], [r.draft_mri()], knowledge, hook="patient-view")
    assert evaluation.order_ratings == ()


def _ratings(evaluation: Evaluation) -> list[tuple[str, str, str]]:
    return [(x.reference, x.rating, x.rule) for x in evaluation.order_ratings]


def _reference(order: dict[str, Any]) -> str:
    return f"{order['resourceType']}/{order['id']}"


def test_an_mri_after_a_medication_on_order_sign_is_still_rated(knowledge: Knowledge) -> None:
    medication = {"resourceType": "MedicationRequest", "id": "m1", "status": "draft"}
    other = r.service_request("71250", r.CPT, status="draft", days=0)  # chest CT: not lumbar
    mri = r.draft_mri()
    evaluation = _evaluate([r.sciatica(days=20)], [medication, other, mri], knowledge)
    assert _ratings(evaluation) == [
        (_reference(mri), "not-appropriate", "order-rating/conservative-care-first")
    ]
    assert evaluation.orders_in_scope == (
        "MedicationRequest/m1",
        _reference(other),
        _reference(mri),
    )


def test_voided_drafts_are_ignored(knowledge: Knowledge) -> None:
    voided = [{**r.draft_mri(), "status": s} for s in ("entered-in-error", "revoked")]
    physio = {**r.service_request("308447003", days=0), "status": "revoked"}
    mri = r.draft_mri()
    evaluation = _evaluate([r.sciatica(), r.condition("C61")], [*voided, physio, mri], knowledge)
    assert _ratings(evaluation) == [(_reference(mri), "appropriate", "order-rating/red-flag")]
    assert evaluation.physiotherapy_orders == ()
    # A status that is not a code is no reason to ignore an order.
    odd = {**r.draft_mri(), "status": ["revoked"]}
    assert len(_evaluate([r.sciatica()], [odd], knowledge).order_ratings) == 1


def test_drafts_without_an_id_or_not_objects_are_skipped(knowledge: Knowledge) -> None:
    no_id, empty_id = r.draft_mri(), r.draft_mri()
    del no_id["id"]
    empty_id["id"] = ""
    no_type = {k: v for k, v in r.draft_mri().items() if k != "resourceType"}
    mri = r.draft_mri()
    orders = [None, "ServiceRequest/x", 7, no_id, empty_id, no_type, mri]
    evaluation = _evaluate([r.sciatica()], orders, knowledge)  # type: ignore[list-item]
    assert [x.reference for x in evaluation.order_ratings] == [_reference(mri)]
    assert evaluation.orders_in_scope == (_reference(mri),)
    assert _evaluate([r.sciatica()], "not a list", knowledge).order_ratings == ()  # type: ignore[arg-type]
    # A code that is not a CodeableConcept is an order of nothing Radix rates.
    uncoded = {**r.draft_mri(), "code": "72148"}
    assert _evaluate([r.sciatica()], [uncoded], knowledge).order_ratings == ()


def test_the_reasons_clinicians_read(knowledge: Knowledge) -> None:
    def reason(record: list[dict[str, Any]], order: dict[str, Any] | None = None) -> str:
        (rating,) = _evaluate(record, [order or r.draft_mri()], knowledge).order_ratings
        return rating.reason

    assert reason([r.condition("I10")]) == (
        "No back pain, radicular syndrome or red flag is recorded."
    )
    assert reason([r.sciatica(), r.condition("C61"), r.condition("G83.4")]) == (
        "Red flag: cauda equina, malignancy."
    )
    mri = r.procedure("72148", r.CPT, days=60)
    assert reason([r.sciatica(days=90), mri]) == (
        f"A lumbar MRI was done in the last 12 months ({_reference(mri)}) and nothing new "
        "since calls for another."
    )
    assert reason([r.sciatica(days=66), r.procedure("410160006", days=50)]) == (
        "Back pain for 9 weeks despite conservative care."
    )
    assert reason([r.sciatica(days=7), r.condition("M96.1")]) == (
        "Radicular symptoms after lumbar surgery."
    )
    assert reason([r.condition("M54.16", days=None)]) == (
        "No red flag, and the duration of symptoms is not documented (counts as under 6 "
        "weeks): imaging does not change early management."
    )
    assert reason([r.sciatica(days=20)]) == (
        "No red flag, and symptoms for 3 weeks, under 6: imaging does not change early management."
    )
    assert reason([r.sciatica(days=42)]) == (
        "No red flag, and no conservative care is documented: imaging does not change early "
        "management."
    )
    assert reason([r.sciatica(days=70)]) == (
        "No red flag, and no conservative care is documented: imaging does not change early "
        "management."
    )


def test_rows_in_order(knowledge: Knowledge) -> None:
    # Row 1 needs neither back pain nor a radicular syndrome when a red flag stands without it.
    assert _rating([r.condition("G83.4", days=400)], knowledge) == (
        "appropriate",
        "order-rating/red-flag",
    )
    # Row 4 at exactly 6 weeks, with back pain alone; just under 6 weeks is row 6.
    care = r.procedure("410160006", days=30)
    assert _rating([r.low_back_pain(days=42), care], knowledge) == (
        "appropriate",
        "order-rating/persistent-after-conservative-care",
    )
    assert _rating([r.low_back_pain(days=41.9), care], knowledge) == (
        "not-appropriate",
        "order-rating/conservative-care-first",
    )
    # Row 5 needs the radicular syndrome: back pain after surgery is row 6.
    assert _rating([r.sciatica(days=7), r.procedure("202725007", days=400)], knowledge) == (
        "appropriate",
        "order-rating/prior-lumbar-surgery",
    )
    assert _rating([r.low_back_pain(days=7), r.condition("M96.1")], knowledge) == (
        "not-appropriate",
        "order-rating/conservative-care-first",
    )
    # An old flag and a recent MRI: other lumbar imaging falls through to the later rows.
    record = [
        r.sciatica(days=90),
        r.procedure("410160006", days=80),
        r.procedure("72148", r.CPT, days=60),
        r.condition("C61", days=400),
    ]
    other = r.service_request("72100", r.CPT, status="draft", days=0)
    assert _rating(record, knowledge, other) == (
        "appropriate",
        "order-rating/persistent-after-conservative-care",
    )
    assert _rating(record[:1] + record[2:], knowledge, other) == (
        "not-appropriate",
        "order-rating/conservative-care-first",
    )


def test_the_rating_of_a_new_mri(knowledge: Knowledge) -> None:
    # What an MRI would be rated now, on every hook, with or without draft orders.
    def new_mri(record: list[dict[str, Any]]) -> str:
        return _evaluate(record, [], knowledge, hook="patient-view").new_mri_rating

    assert new_mri([r.condition("I10")]) == "no-criteria-apply"
    assert new_mri([r.sciatica(days=20)]) == "not-appropriate"
    assert new_mri([r.sciatica(), r.condition("C61")]) == "appropriate"
    assert new_mri([r.sciatica(days=90), r.procedure("410160006", days=80)]) == "appropriate"
    assert (
        new_mri(
            [
                r.sciatica(days=90),
                r.procedure("410160006", days=80),
                r.procedure("72148", r.CPT, days=60),
            ]
        )
        == "not-appropriate"
    )


def test_the_upgrade_to_stat_is_for_mri_under_an_emergency_only(knowledge: Knowledge) -> None:
    emergency = [r.sciatica(), r.condition("G83.4", days=1)]
    ct = r.service_request("72131", r.CPT, status="draft", days=0)
    urgent = {**r.draft_mri(), "priority": "urgent"}
    unset = {k: v for k, v in r.draft_mri().items() if k != "priority"}
    ratings = _evaluate(emergency, [ct, urgent, unset], knowledge).order_ratings
    assert [(x.imaging, x.upgrade_to_stat) for x in ratings] == [
        ("lumbar-other", False),
        ("lumbar-mri", True),
        ("lumbar-mri", True),
    ]
    # The rated order is the draft exactly as sent.
    assert ratings[1].resource == urgent
