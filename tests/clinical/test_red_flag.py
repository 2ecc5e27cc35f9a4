from __future__ import annotations

from typing import Any

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.course import Course
from cds_service.clinical.exam import Exam
from cds_service.clinical.knowledge import Knowledge
from cds_service.clinical.red_flag import RedFlagReport, find_red_flags
from tests.clinical import records as r


def _report(record: list[dict[str, Any]], knowledge: Knowledge) -> RedFlagReport:
    config = ClinicalConfig()
    chart = Chart.read(record, knowledge, r.NOW)
    exam = Exam(chart, config)
    return find_red_flags(chart, exam, Course.read(chart, exam, 12), config)


def _rules(record: list[dict[str, Any]], knowledge: Knowledge) -> set[str]:
    return set(_report(record, knowledge).rules)


def test_bilateral_via_two_sided_conditions(knowledge: Knowledge) -> None:
    record = [r.condition("M54.32"), r.condition("M54.41")]
    assert "cauda-equina/bilateral-radicular" in _rules(record, knowledge)
    assert "cauda-equina/bilateral-radicular" not in _rules(record[:1], knowledge)


def test_stenosis_is_never_bilateral(knowledge: Knowledge) -> None:
    record = [
        r.condition("M48.062", side="bilateral"),
        r.condition("M48.062", side="left"),
        r.condition("M48.062", side="right"),
    ]
    assert _rules(record, knowledge) == set()


def test_crossed_slr_never_makes_a_finding_bilateral(knowledge: Knowledge) -> None:
    record = [
        r.sciatica(side="left"),
        r.exam("straight-leg-raise", True, side="left"),
        r.exam("crossed-straight-leg-raise", True, side="left"),
        r.exam("straight-leg-raise", False, side="right"),
    ]
    assert _rules(record, knowledge) == set()
    record[-1] = r.exam("straight-leg-raise", True, side="right")
    assert "cauda-equina/bilateral-radicular" in _rules(record, knowledge)


def test_bilateral_motor_deficit_is_cauda_equina(knowledge: Knowledge) -> None:
    record = [
        r.sciatica(),
        r.exam("strength-great-toe-extension", 4, side="left"),
        r.exam("strength-great-toe-extension", 4, side="right"),
    ]
    assert "cauda-equina/bilateral-radicular" in _rules(record, knowledge)


def test_ces_symptom_recency(knowledge: Knowledge) -> None:
    recent = [r.sciatica(), r.condition("R32", days=29)]
    old = [r.sciatica(), r.condition("R32", days=31)]
    undated = [r.sciatica(), r.condition("R32", days=None)]
    assert "cauda-equina/urinary-incontinence" in _rules(recent, knowledge)
    assert "cauda-equina/urinary-incontinence" in _rules(undated, knowledge)
    report = _report(old, knowledge)
    assert report.flags == ()
    assert any("long-standing, not counted" in e.text for e in report.not_counted)


def test_recorded_date_dates_a_ces_symptom_without_onset(knowledge: Knowledge) -> None:
    record = [r.sciatica(), r.condition("R33.9", days=None, recorded=400)]
    assert _report(record, knowledge).flags == ()


def test_ces_symptoms_count_only_with_back_pain(knowledge: Knowledge) -> None:
    assert _report([r.condition("R33.9", days=3)], knowledge).flags == ()
    assert "cauda-equina/condition" in _rules([r.condition("G83.4", days=400)], knowledge)


def test_negated_ces_symptoms_raise_nothing(knowledge: Knowledge) -> None:
    record = [
        r.sciatica(),
        r.observed("267064002", value=False),
        r.observed("72042002", value="260385009"),
        r.exam("sensation-saddle", "normal"),
        r.exam("anal-tone", "normal"),
    ]
    assert _report(record, knowledge).flags == ()


def test_saddle_anal_tone_and_pvr(knowledge: Knowledge) -> None:
    rules = _rules(
        [
            r.sciatica(),
            r.exam("sensation-saddle", "reduced"),
            r.exam("anal-tone", "absent"),
            r.exam("post-void-residual", (250, "mL")),
        ],
        knowledge,
    )
    assert {
        "cauda-equina/sensation-saddle",
        "cauda-equina/anal-tone",
        "cauda-equina/post-void-residual",
    } <= rules
    assert _rules([r.sciatica(), r.exam("post-void-residual", (150, "mL"))], knowledge) == set()


def test_fever_by_temperature_within_seven_days(knowledge: Knowledge) -> None:
    idu = r.condition("228388006", r.SCT, clinical="inactive")
    rule = "infection/fever-with-injecting-drug-use"
    assert rule in _rules([r.sciatica(), idu, r.temperature(38.0, days=6)], knowledge)
    assert rule in _rules([r.sciatica(), idu, r.temperature(100.6, "[degF]")], knowledge)
    assert rule not in _rules([r.sciatica(), idu, r.temperature(38.4, days=8)], knowledge)
    assert rule not in _rules([r.sciatica(), idu, r.temperature(37.9)], knowledge)
    assert rule not in _rules([r.sciatica(), idu, r.temperature(39.0, days=None)], knowledge)
    assert rule not in _rules([r.sciatica(), r.temperature(39.0)], knowledge)


def test_multilevel_requires_non_adjacent_roots(knowledge: Knowledge) -> None:
    rule = "multilevel-motor-deficit/non-adjacent-roots"
    hip_plantar = [
        r.exam("strength-hip-flexion", 4, side="left"),
        r.exam("strength-ankle-plantarflexion", 4, side="left"),
    ]
    knee_toe = [
        r.exam("strength-knee-extension", 4, side="left"),
        r.exam("strength-great-toe-extension", 4, side="left"),
    ]
    assert rule in _rules([r.sciatica(), *hip_plantar], knowledge)
    assert rule not in _rules([r.sciatica(), *knee_toe], knowledge)


def test_progressive_is_a_drop_between_the_two_latest(knowledge: Knowledge) -> None:
    rule = "progressive-motor-deficit/mrc-drop"
    muscle = "strength-great-toe-extension"
    drop = [r.exam(muscle, 5, side="left", days=20), r.exam(muscle, 4, side="left", days=0)]
    assert rule in _rules([r.sciatica(), *drop], knowledge)
    recovered = [*drop, r.exam(muscle, 4, side="left", days=-1)]
    assert rule not in _rules([r.sciatica(), *recovered], knowledge)
    other_side = [r.exam(muscle, 5, side="right", days=20), r.exam(muscle, 4, side="left")]
    assert rule not in _rules([r.sciatica(), *other_side], knowledge)


def test_severe_deficit_and_foot_drop(knowledge: Knowledge) -> None:
    rules = _rules(
        [r.sciatica(), r.exam("strength-ankle-plantarflexion", 3, side="left")], knowledge
    )
    assert "severe-motor-deficit/mrc" in rules
    assert "severe-motor-deficit/foot-drop" in _rules(
        [r.low_back_pain(), r.condition("M21.372")], knowledge
    )


def test_malignancy_with_umn_is_cord_compression(knowledge: Knowledge) -> None:
    report = _report(
        [r.sciatica(), r.condition("Z85.3", days=2000), r.exam("babinski", True, side="left")],
        knowledge,
    )
    ids = {f.id for f in report.flags}
    assert "cord-compression" in ids
    assert "upper-motor-neuron" not in ids
    umn_only = _report([r.sciatica(), r.exam("reflex-patellar", 4, side="left")], knowledge)
    assert {f.id for f in umn_only.flags} == {"upper-motor-neuron"}


def test_red_flags_are_flags_of_back_pain(knowledge: Knowledge) -> None:
    # Rules §2: without back pain, risk factors and exam findings flag nothing and say so.
    risk = [
        r.patient("1940-01-01"),
        r.condition("C61"),
        r.condition("B20"),
        r.condition("64859006", r.SCT),
        r.condition("M21.372"),
        r.exam("strength-ankle-plantarflexion", 2, side="left"),
        r.exam("babinski", True, side="left"),
        r.condition("R33.9", days=2),
    ]
    alone = _report(risk, knowledge)
    assert alone.flags == ()
    assert sum("no back pain recorded, not counted" in e.text for e in alone.not_counted) == 8
    assert any(e.text.startswith("Age 86 — no back pain") for e in alone.not_counted)
    expected = {
        "malignancy",
        "infection",
        "fracture",
        "severe-motor-deficit",
        "cord-compression",
        "cauda-equina",
    }
    for pain in (r.sciatica(), r.low_back_pain(), r.condition("M48.062")):
        report = _report([*risk, pain], knowledge)
        assert {f.id for f in report.flags} == expected
        assert report.not_counted == ()


def test_the_two_diagnoses_are_red_flags_without_back_pain(knowledge: Knowledge) -> None:
    ces = _report([r.condition("G83.4", days=400)], knowledge)
    assert ces.rules == ("cauda-equina/condition",)
    cord = _report([r.condition("71286001", r.SCT), r.condition("C61")], knowledge)
    assert cord.rules == ("cord-compression/condition",)


def test_cauda_equina_symptoms_need_back_pain(knowledge: Knowledge) -> None:
    retention = [r.patient("1980-01-01"), r.condition("R33.9")]
    assert "cauda-equina" not in {f.id for f in _report(retention, knowledge).flags}
    with_pain = {f.id for f in _report([*retention, r.sciatica()], knowledge).flags}
    assert "cauda-equina" in with_pain


def test_age_flag_is_never_new_since_an_mri(knowledge: Knowledge) -> None:
    record = [
        r.patient("1950-01-01"),
        r.sciatica(days=200),
        r.procedure("394451000119106", days=30),
    ]
    (flag,) = _report(record, knowledge).flags
    assert flag.id == "fracture" and not flag.new_since_prior_mri
    undated = [*record, r.condition("64859006", r.SCT, days=None)]
    (flag,) = _report(undated, knowledge).flags
    assert flag.new_since_prior_mri


def test_weak_flags_change_no_tier(knowledge: Knowledge) -> None:
    report = _report([r.patient("1960-01-01"), r.sciatica(), r.condition("R63.4")], knowledge)
    assert report.flags == ()
    assert report.weak_flags == ("age-over-50", "weight-loss")


PROGRESSIVE = "progressive-motor-deficit/mrc-drop"
TOE = "strength-great-toe-extension"


def _drop_evidence(record: list[dict[str, Any]], knowledge: Knowledge) -> list[str] | None:
    """References behind the progressive flag (None: no flag)."""
    report = _report([r.sciatica(), *record], knowledge)
    flag = next((f for f in report.flags if f.id == "progressive-motor-deficit"), None)
    return None if flag is None else [e.reference for e in flag.evidence]


def _ref(resource: dict[str, Any]) -> str:
    return f"{resource['resourceType']}/{resource['id']}"


def test_progressive_reads_the_two_latest_of_a_longer_series(knowledge: Knowledge) -> None:
    five, five_again, four = (
        r.exam(TOE, 5, side="left", days=40),
        r.exam(TOE, 5, side="left", days=20),
        r.exam(TOE, 4, side="left", days=0),
    )
    assert _drop_evidence([five, five_again, four], knowledge) == [_ref(five_again), _ref(four)]
    # 4, 5, 4: the latest two dropped; the first 4 is not evidence.
    up_down = [r.exam(TOE, 4, side="left", days=40), five_again, four]
    assert _drop_evidence(up_down, knowledge) == [_ref(five_again), _ref(four)]
    # 5, 4, 4: weak but stable since the last exam; 5, 4, 5: recovered.
    assert _drop_evidence([five, r.exam(TOE, 4, side="left", days=20), four], knowledge) is None
    assert (
        _drop_evidence(
            [five, r.exam(TOE, 4, side="left", days=20), r.exam(TOE, 5, side="left", days=0)],
            knowledge,
        )
        is None
    )


def test_progressive_at_the_bottom_of_the_scale(knowledge: Knowledge) -> None:
    # MRC 1 -> 0 is a lost grade; 0 -> 0 is paralysis unchanged (severe, not progressive).
    one_zero = [r.exam(TOE, 1, side="left", days=10), r.exam(TOE, 0, side="left", days=0)]
    assert _drop_evidence(one_zero, knowledge) is not None
    zero_zero = [r.exam(TOE, 0, side="left", days=10), r.exam(TOE, 0, side="left", days=0)]
    assert _drop_evidence(zero_zero, knowledge) is None
    assert "severe-motor-deficit/mrc" in _rules([r.sciatica(), *zero_zero], knowledge)
    # A drop of several grades counts once: the flag rests on the two observations.
    five_two = [r.exam(TOE, 5, side="left", days=10), r.exam(TOE, 2, side="left", days=0)]
    assert _drop_evidence(five_two, knowledge) == [_ref(five_two[0]), _ref(five_two[1])]


def test_progressive_per_side_with_one_side_examined_once(knowledge: Knowledge) -> None:
    once_right = r.exam(TOE, 4, side="right", days=30)
    left = [r.exam(TOE, 5, side="left", days=20), r.exam(TOE, 4, side="left", days=0)]
    assert _drop_evidence([once_right, *left], knowledge) == [_ref(left[0]), _ref(left[1])]
    assert _drop_evidence([*left, once_right], knowledge) == [_ref(left[0]), _ref(left[1])]
    # Each muscle is its own series: a drop in one muscle is found after a stable one.
    stable = [
        r.exam("strength-hip-flexion", 4, side="left", days=20),
        r.exam("strength-hip-flexion", 4, side="left", days=0),
    ]
    assert _drop_evidence([*stable, *left], knowledge) == [_ref(left[0]), _ref(left[1])]
    # A bilateral exam belongs to both legs' series; an unsided one forms its own.
    both = r.exam(TOE, 5, side="bilateral", days=20)
    right_now = r.exam(TOE, 4, side="right", days=0)
    assert _drop_evidence([both, right_now], knowledge) == [_ref(both), _ref(right_now)]
    unsided = r.exam(TOE, 5, days=20)
    assert _drop_evidence([unsided, right_now], knowledge) is None


def test_progressive_ignores_ungraded_and_undated_strength(knowledge: Knowledge) -> None:
    stable = [r.exam(TOE, 4, side="left", days=20), r.exam(TOE, 4, side="left", days=0)]
    ungraded_later = r.exam(TOE, None, side="left", days=-1)
    unreadable = {**r.exam(TOE, None, side="left", days=-2), "valueString": "weak"}
    undated_five = r.exam(TOE, 5, side="left", days=None)
    assert _drop_evidence([*stable, ungraded_later, unreadable, undated_five], knowledge) is None
    # Nor do they hide a drop.
    drop = [r.exam(TOE, 5, side="left", days=20), r.exam(TOE, 4, side="left", days=0)]
    assert _drop_evidence([undated_five, *drop, ungraded_later], knowledge) == [
        _ref(drop[0]),
        _ref(drop[1]),
    ]
    # A graded Observation that does not count (cancelled) is no part of the series either.
    cancelled = r.exam(TOE, 5, side="left", days=10, status="cancelled")
    assert (
        _drop_evidence([r.exam(TOE, 4, side="left", days=20), cancelled, stable[1]], knowledge)
        is None
    )


def test_grades_at_the_same_instant_are_one_exam(knowledge: Knowledge) -> None:
    same = [r.exam(TOE, 5, side="left", days=0), r.exam(TOE, 4, side="left", days=0)]
    assert _drop_evidence(same, knowledge) is None
    assert _drop_evidence(list(reversed(same)), knowledge) is None


def test_a_drop_to_a_same_instant_pair_compares_with_the_exam_before(knowledge: Knowledge) -> None:
    # 5 ten days ago; now 5 and 4 entered at the same instant. The current grade is 4 (the more
    # abnormal wins, as for every current finding), the exam before was 5: a lost grade.
    before = r.exam(TOE, 5, side="left", days=10)
    now = [r.exam(TOE, 5, side="left", days=0), r.exam(TOE, 4, side="left", days=0)]
    assert _drop_evidence([before, *now], knowledge) == [_ref(before), _ref(now[1])]
    assert _drop_evidence([*reversed(now), before], knowledge) == [_ref(before), _ref(now[1])]
    one_then_zero = [
        r.exam(TOE, 1, side="left", days=10),
        r.exam(TOE, 0, side="left", days=0),
        r.exam(TOE, 1, side="left", days=0),
    ]
    assert _drop_evidence(one_then_zero, knowledge) is not None
    # The exam before is read the same way: 5 and 4 then, 4 now, is no drop.
    then = [r.exam(TOE, 5, side="left", days=10), r.exam(TOE, 4, side="left", days=10)]
    assert _drop_evidence([*then, r.exam(TOE, 4, side="left", days=0)], knowledge) is None


def test_new_since_the_mri_means_dated_after_it(knowledge: Knowledge) -> None:
    # Rules §1.8: a fact dated at the very moment of the MRI was seen on it; one after is new.
    mri = r.procedure("72148", r.CPT, days=30)
    same = {**r.condition("C61", days=None), "onsetDateTime": mri["performedDateTime"]}
    (flag,) = _report([r.sciatica(days=60), mri, same], knowledge).flags
    assert not flag.new_since_prior_mri
    after = r.condition("C61", days=29.9)
    (flag,) = _report([r.sciatica(days=60), mri, after], knowledge).flags
    assert flag.new_since_prior_mri
    # An undated MRI is not known to be older than any fact.
    undated = r.procedure("72148", r.CPT, days=None)
    (flag,) = _report([r.sciatica(days=60), undated, r.condition("C61", days=400)], knowledge).flags
    assert flag.new_since_prior_mri


def test_multilevel_looks_past_the_same_muscle_on_both_legs(knowledge: Knowledge) -> None:
    hip_left, hip_right = (
        r.exam("strength-hip-flexion", 4, side="left"),
        r.exam("strength-hip-flexion", 4, side="right"),
    )
    plantar = r.exam("strength-ankle-plantarflexion", 4, side="left")
    report = _report([r.sciatica(), hip_left, hip_right, plantar], knowledge)
    (flag,) = [f for f in report.flags if f.id == "multilevel-motor-deficit"]
    assert [e.reference for e in flag.evidence] == [_ref(hip_left), _ref(plantar), _ref(hip_right)]
    # The same muscle on both legs alone is bilateral, not multilevel.
    assert "multilevel-motor-deficit/non-adjacent-roots" not in _rules(
        [r.sciatica(), hip_left, hip_right], knowledge
    )


def test_age_is_a_weak_flag_from_51_to_69_and_a_red_flag_from_70(knowledge: Knowledge) -> None:
    def answer(years: int, days: int = 0) -> tuple[tuple[str, ...], tuple[str, ...]]:
        report = _report([r.patient(r.birth_years_ago(years, days)), r.sciatica()], knowledge)
        return report.weak_flags, report.rules

    assert answer(50) == ((), ())
    assert answer(51) == (("age-over-50",), ())
    assert answer(70, days=1) == (("age-over-50",), ())  # 69 until tomorrow
    assert answer(70) == ((), ("fracture/age",))


def test_multilevel_reads_every_primary_root(knowledge: Knowledge) -> None:
    # Hip flexion (L2) with knee extension (L3, L4): adjacent through L3, not multilevel.
    rule = "multilevel-motor-deficit/non-adjacent-roots"
    hip = r.exam("strength-hip-flexion", 4, side="left")
    assert rule not in _rules(
        [r.sciatica(), hip, r.exam("strength-knee-extension", 4, side="left")], knowledge
    )
    # Knee extension (L3, L4) with ankle eversion (L5, S1): adjacent through L4 and L5.
    assert rule not in _rules(
        [
            r.sciatica(),
            r.exam("strength-knee-extension", 4, side="left"),
            r.exam("strength-ankle-eversion", 4, side="left"),
        ],
        knowledge,
    )
    # Hip flexion with ankle inversion (L5): two steps apart.
    assert rule in _rules(
        [r.sciatica(), hip, r.exam("strength-ankle-inversion", 4, side="right")], knowledge
    )
