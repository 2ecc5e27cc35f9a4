from __future__ import annotations

from typing import Any

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.evaluation import Evaluation
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r


def _evaluate(record: list[dict[str, Any]], orders: list[dict[str, Any]],
              knowledge: Knowledge, hook: str = "order-sign") -> Evaluation:
    return evaluate(record, orders, hook=hook, now=r.NOW, knowledge=knowledge,
                    config=ClinicalConfig())


def _rating(record: list[dict[str, Any]], knowledge: Knowledge, order: dict | None = None
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
    record = [r.sciatica(days=90), r.procedure("410160006", days=80),
              r.procedure("394451000119106", days=60)]
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
