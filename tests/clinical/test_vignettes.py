"""Every clinical case (own and shared), frozen at asOf and shifted to today."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds_service.clinical.engine import evaluate
from cds_service.clinical.evaluation import Evaluation
from cds_service.clinical.knowledge import Knowledge
from tests.cases import own_cases
from tests.vignettes import Vignette, every_case, note_reading

VIGNETTES = every_case()
_TIER_RANK = {"none": 0, "urgent": 1, "emergency": 2}


def _run(vignette: Vignette, knowledge: Knowledge) -> Evaluation:
    notes = note_reading(vignette, knowledge)  # the notes stage, as the service runs it
    return evaluate(
        vignette.resources,
        vignette.orders_in_scope,
        hook=vignette.hook,
        now=vignette.as_of,
        knowledge=knowledge,
        note_findings=notes.findings,
    )


def _check(vignette: Vignette, evaluation: Evaluation) -> None:
    expected, assessment = vignette.expected, evaluation.assessment
    flags = {flag.id for flag in assessment.red_flags}
    assert assessment.disposition == expected["disposition"]
    assert (assessment.tier or "none") == expected["tier"]
    assert set(expected.get("redFlags", [])) <= flags
    assert not flags & set(expected.get("absentRedFlags", []))
    if "root" in expected:
        assert assessment.localisation is not None
        assert assessment.localisation.root == expected["root"]
        assert assessment.localisation.side == expected["side"]
    if expected.get("noLocalisation"):
        assert assessment.localisation is None
    if "orderRatings" in expected:
        ratings = {r.reference: r.rating for r in evaluation.order_ratings}
        wanted = {ref: rating for ref, rating in expected["orderRatings"].items() if rating}
        assert ratings == wanted  # null = not rated, and no rating on any other order
    if expected.get("expectPriorityUpgrade"):
        assert any(r.upgrade_to_stat for r in evaluation.order_ratings)
    if expected.get("expectWarningCard") and vignette.hook != "patient-view":
        # A warning card on an order hook is due to a not-appropriate rating or to a
        # physiotherapy referral ordered while red flags stand (rules §4).
        assert any(r.rating == "not-appropriate" for r in evaluation.order_ratings) or (
            evaluation.physiotherapy_orders and assessment.red_flags
        )
    if expected.get("noCards") and vignette.hook != "patient-view":
        assert assessment.tier != "emergency"
        assert all(r.rating != "not-appropriate" for r in evaluation.order_ratings)
        assert not (evaluation.physiotherapy_orders and assessment.red_flags)
    if expected.get("noCards") and vignette.hook == "patient-view":
        assert assessment.disposition == "none"


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v.id for v in VIGNETTES])
def test_vignette_with_frozen_clock(vignette: Vignette, knowledge: Knowledge) -> None:
    _check(vignette, _run(vignette, knowledge))


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[v.id for v in VIGNETTES])
def test_vignette_shifted_to_today(vignette: Vignette, knowledge: Knowledge) -> None:
    _check(vignette, _run(vignette.shifted(datetime.now(UTC)), knowledge))


def test_the_project_has_a_case_for_every_disposition_and_hook() -> None:
    cases = own_cases()
    assert {c.expected["disposition"] for c in cases} >= {
        "emergency-referral",
        "urgent-imaging",
        "mri",
        "specialist-review",
        "physiotherapy",
        "none",
    }
    assert {c.hook for c in cases} == {"patient-view", "order-select", "order-sign"}


def test_shift_moves_date_times_exactly_and_dates_by_whole_days() -> None:
    from datetime import timedelta

    from tests.vignettes import shift_dates

    delta = timedelta(days=3, hours=20)
    shifted = shift_dates(
        {
            "a": "2026-11-20T09:30:00Z",
            "b": ["2026-11-06", "2026-11-20T09:30:00+02:00"],
            "c": "2026-11",
            "d": "MRN-2026-11-20",
            "e": 7,
        },
        delta,
    )
    assert shifted == {
        "a": "2026-11-24T05:30:00Z",
        "b": ["2026-11-10", "2026-11-24T05:30:00+02:00"],
        "c": "2026-11",
        "d": "MRN-2026-11-20",
        "e": 7,
    }
