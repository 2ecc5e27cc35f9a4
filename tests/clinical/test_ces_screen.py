from __future__ import annotations

from typing import Any

from cds_service.clinical.ces_screen import ITEMS, screen
from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import CesScreen
from cds_service.clinical.exam import Exam
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r

CONFIG = ClinicalConfig()


def _screen(record: list[dict[str, Any]], knowledge: Knowledge) -> CesScreen:
    chart = Chart.read(record, knowledge, r.NOW)
    return screen(chart, Exam(chart, CONFIG), CONFIG)


def test_nothing_recorded_is_unknown_not_negative(knowledge: Knowledge) -> None:
    result = _screen([r.sciatica()], knowledge)
    assert result.present == result.absent == result.documented == ()
    assert result.unknown == tuple(ITEMS)


def test_negated_items_are_absent_not_present(knowledge: Knowledge) -> None:
    record = [
        r.sciatica(side="left"),
        r.observed("267064002", value=False),
        r.exam("sensation-saddle", "normal"),
        r.exam("anal-tone", "normal"),
    ]
    result = _screen(record, knowledge)
    assert result.present == ()
    assert set(result.absent) == {"urinary-retention", "saddle-anaesthesia", "anal-tone"}
    assert set(result.documented) == set(result.absent)
    # A left-sided sciatica says nothing about the right leg.
    assert set(result.unknown) == {
        "urinary-incontinence",
        "faecal-incontinence",
        "sexual-dysfunction",
        "bilateral-symptoms",
    }


def test_asserted_and_abnormal_items_are_present(knowledge: Knowledge) -> None:
    record = [
        r.sciatica(),
        r.condition("R32", days=400),  # long-standing: still present
        r.exam("sensation-saddle", "reduced"),
        r.exam("anal-tone", "absent"),
        r.observed("72042002", value=True),
    ]
    result = _screen(record, knowledge)
    assert set(result.present) == {
        "urinary-incontinence",
        "saddle-anaesthesia",
        "anal-tone",
        "faecal-incontinence",
    }
    assert result.absent == ()


def test_post_void_residual_answers_retention_by_the_configured_threshold(
    knowledge: Knowledge,
) -> None:
    high = _screen([r.sciatica(), r.exam("post-void-residual", (CONFIG.pvr_ml, "mL"))], knowledge)
    low = _screen(
        [r.sciatica(), r.exam("post-void-residual", (CONFIG.pvr_ml - 1, "mL"))], knowledge
    )
    assert "urinary-retention" in high.present
    assert "urinary-retention" in low.absent


def test_both_legs_examined_without_bilateral_findings_is_absent(knowledge: Knowledge) -> None:
    record = [
        r.sciatica(side="left"),
        r.exam("straight-leg-raise", True, side="left"),
        r.exam("straight-leg-raise", False, side="right"),
    ]
    assert "bilateral-symptoms" in _screen(record, knowledge).absent
    one_leg = [r.sciatica(side="left"), r.exam("strength-hip-abduction", 4, side="left")]
    assert "bilateral-symptoms" in _screen(one_leg, knowledge).unknown


def test_bilateral_radicular_findings_are_present(knowledge: Knowledge) -> None:
    both = [r.condition("23056005", r.SCT, side="bilateral")]
    assert "bilateral-symptoms" in _screen(both, knowledge).present
    slr = [
        r.sciatica(),
        r.exam("straight-leg-raise", True, side="left"),
        r.exam("straight-leg-raise", True, side="right"),
    ]
    assert "bilateral-symptoms" in _screen(slr, knowledge).present


def test_an_observation_without_a_value_documents_nothing(knowledge: Knowledge) -> None:
    result = _screen([r.exam("anal-tone", None)], knowledge)
    assert "anal-tone" in result.unknown


def test_each_item_answered_absent_by_its_own_record(knowledge: Knowledge) -> None:
    # Rules §1.9: each screening question and the record that answers it "no".
    answers = {
        "urinary-retention": r.observed("267064002", value=False),
        "urinary-incontinence": r.observed("R32", r.ICD, value=False),
        "faecal-incontinence": r.observed("72042002", value="2667000"),
        "saddle-anaesthesia": r.observed("saddle-anaesthesia", r.RADIX, value=False),
        "sexual-dysfunction": r.observed("56925008", value=False),
        "anal-tone": r.exam("anal-tone", "normal"),
    }
    for item, record in answers.items():
        result = _screen([r.sciatica(side="left"), record], knowledge)
        assert (result.present, result.absent) == ((), (item,)), item
    # Examination answers too: saddle sensation, a post-void residual under the threshold.
    assert _screen([r.exam("sensation-saddle", "normal")], knowledge).absent == (
        "saddle-anaesthesia",
    )
    assert _screen([r.exam("post-void-residual", (50, "mL"))], knowledge).absent == (
        "urinary-retention",
    )


def test_each_item_present_by_its_own_record(knowledge: Knowledge) -> None:
    answers = {
        "urinary-retention": r.exam("post-void-residual", (0.2, "L")),
        "urinary-incontinence": r.condition("R32", days=900),
        "faecal-incontinence": r.observed("72042002"),
        "saddle-anaesthesia": r.exam("sensation-saddle", "absent"),
        "sexual-dysfunction": r.condition("56925008", r.SCT),
        "anal-tone": r.exam("anal-tone", "reduced"),
        "bilateral-symptoms": r.exam("strength-hip-flexion", 4, side="bilateral"),
    }
    for item, record in answers.items():
        result = _screen([r.low_back_pain(), record], knowledge)
        assert result.present == (item,), item
        assert item not in result.absent and item not in result.unknown
    # Present whatever the back pain: the screen reports the record, the flags decide.
    assert _screen([r.condition("R33.9", days=2)], knowledge).present == ("urinary-retention",)


def test_the_items_keep_their_order(knowledge: Knowledge) -> None:
    record = [
        r.exam("anal-tone", "absent"),
        r.observed("267064002"),
        r.exam("sensation-saddle", "reduced"),
        r.condition("R32"),
    ]
    assert _screen(record, knowledge).present == (
        "urinary-retention",
        "urinary-incontinence",
        "saddle-anaesthesia",
        "anal-tone",
    )


def test_both_legs_examined_by_one_key_muscle_or_bilateral_pain(knowledge: Knowledge) -> None:
    strength = [
        r.exam("strength-ankle-eversion", 5, side="left"),
        r.exam("strength-ankle-eversion", 5, side="right"),
    ]
    assert "bilateral-symptoms" in _screen(strength, knowledge).absent
    # Two different muscles, one per leg, are not the same test on each side.
    mixed = [
        r.exam("strength-ankle-eversion", 5, side="left"),
        r.exam("strength-hip-flexion", 5, side="right"),
    ]
    assert "bilateral-symptoms" in _screen(mixed, knowledge).unknown
    slr_both = [r.exam("straight-leg-raise", False, side="bilateral")]
    assert "bilateral-symptoms" in _screen(slr_both, knowledge).absent
    # Radicular pain recorded as bilateral answers the question (present); stenosis on both
    # legs is documented but never the feature.
    stenosis = [r.condition("M48.062", side="bilateral")]
    assert "bilateral-symptoms" in _screen(stenosis, knowledge).unknown
    both_pain = [r.condition("M54.16", side="bilateral")]
    assert "bilateral-symptoms" in _screen(both_pain, knowledge).present


def test_bilateral_stenosis_radiculopathy_answers_no(knowledge: Knowledge) -> None:
    # A Condition coded both as radiculopathy and as stenosis, on both legs: the legs are
    # documented, but stenosis is never the cauda-equina feature (rules §2), so the answer is
    # "absent", not "unknown" and not "present".
    both = r.condition("M54.16", side="bilateral")
    both["code"]["coding"].append({"system": r.ICD, "code": "M48.062"})
    result = _screen([both], knowledge)
    assert "bilateral-symptoms" in result.absent
