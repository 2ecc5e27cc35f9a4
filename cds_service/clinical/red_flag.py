"""Red flags and their tiers, exactly per decision-rules.md §2 (sources: clinical.md §2.1).

Each trigger has a rule id ``<flag>/<trigger>``. Red flags are flags of back pain (rules §2):
every trigger but the two diagnoses themselves (a cauda equina syndrome Condition, a spinal cord
compression Condition) counts only in a patient with back pain. Without it a weak foot is more
often a peroneal palsy or a stroke, and cancer, osteoporosis or age are risk factors of nothing
Radix assesses; such triggers are listed as "not counted", never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import combinations

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.course import Course
from cds_service.clinical.evaluation import Evidence, RedFlag, Tier
from cds_service.clinical.exam import MUSCLE_ROOTS, Deficit, Exam, sides_of
from cds_service.clinical.finding import STRENGTH, Finding, evidence, stated

#: Flags in report order with their tier (rules §2).
TIERS: dict[str, Tier] = {
    "cauda-equina": "emergency",
    "severe-motor-deficit": "emergency",
    "progressive-motor-deficit": "emergency",
    "multilevel-motor-deficit": "emergency",
    "cord-compression": "emergency",
    "malignancy": "urgent",
    "infection": "urgent",
    "fracture": "urgent",
    "upper-motor-neuron": "urgent",
}
#: Cauda-equina symptoms that count only when recent and with back pain (rules §1.6).
CES_SYMPTOMS: tuple[str, ...] = (
    "urinary-retention",
    "urinary-incontinence",
    "faecal-incontinence",
    "saddle-anaesthesia",
    "sexual-dysfunction",
)
#: The diagnoses that are red flags on their own, with or without back pain (rules §2).
WITHOUT_BACK_PAIN = frozenset({"cauda-equina/condition", "cord-compression/condition"})
_ROOT_ORDER = ("L2", "L3", "L4", "L5", "S1")
_GRADED = frozenset({"Observation", "DocumentReference"})


@dataclass(frozen=True)
class _Trigger:
    flag: str
    rule: str
    facts: tuple[Finding, ...]
    extra: tuple[Evidence, ...] = ()  # evidence with no dated fact behind it (age)


@dataclass(frozen=True)
class RedFlagReport:
    flags: tuple[RedFlag, ...]
    not_counted: tuple[Evidence, ...]
    weak_flags: tuple[str, ...]

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(rule for flag in self.flags for rule in flag.rules)


def find_red_flags(
    chart: Chart, exam: Exam, course: Course, config: ClinicalConfig
) -> RedFlagReport:
    """Every red flag that stands, with its evidence and whether it is newer than the MRI."""
    not_counted: list[Evidence] = []
    triggers = [
        *_cauda_equina(chart, exam, config, not_counted),
        *_motor(chart, exam, config),
        *_cord_compression(chart, exam),
        *_risk_factors(chart, exam, config),
        *_spinal_disease(chart),
    ]
    if not course.back_pain:
        for trigger in triggers:
            if trigger.rule not in WITHOUT_BACK_PAIN:
                not_counted.extend(_not_counted(trigger, "no back pain recorded, not counted"))
        triggers = [t for t in triggers if t.rule in WITHOUT_BACK_PAIN]
    recent = course.recent_mri
    flags = tuple(
        _flag(
            flag,
            [t for t in triggers if t.flag == flag],
            recent is not None,
            recent.when if recent else None,
        )
        for flag in TIERS
        if any(t.flag == flag for t in triggers)
    )
    return RedFlagReport(flags, tuple(dict.fromkeys(not_counted)), _weak_flags(chart, config))


def _flag(flag: str, triggers: list[_Trigger], after_mri: bool, mri: datetime | None) -> RedFlag:
    facts = [f for t in triggers for f in t.facts]
    items = [evidence(f) for f in facts] + [e for t in triggers for e in t.extra]
    # Rules §1.8: undated evidence counts as new, and so does any fact when the MRI itself is
    # undated (not known to be older); a flag resting on no fact at all (age) never is.
    new = not after_mri or any(mri is None or f.when is None or f.when > mri for f in facts)
    return RedFlag(
        id=flag,
        tier=TIERS[flag],
        rules=tuple(dict.fromkeys(t.rule for t in triggers)),
        evidence=tuple(dict.fromkeys(items)),
        new_since_prior_mri=new,
    )


def _cauda_equina(
    chart: Chart, exam: Exam, config: ClinicalConfig, not_counted: list[Evidence]
) -> Iterator[_Trigger]:
    ces = chart.asserted("cauda-equina-syndrome")
    if ces:
        yield _Trigger("cauda-equina", "cauda-equina/condition", ces)
    window = timedelta(days=config.ces_recency_days)
    for symptom in CES_SYMPTOMS:
        recent: list[Finding] = []
        for fact in chart.asserted(symptom):
            if fact.when is not None and chart.now - fact.when > window:
                not_counted.append(_annotated(evidence(fact), "long-standing, not counted"))
            else:
                recent.append(fact)
        if recent:
            yield _Trigger("cauda-equina", f"cauda-equina/{symptom}", tuple(recent))
    for concept in ("sensation-saddle", "anal-tone"):
        lost = tuple(f for f in chart.latest(concept).values() if f.level in ("reduced", "absent"))
        if lost:
            yield _Trigger("cauda-equina", f"cauda-equina/{concept}", lost)
    residual = tuple(
        f
        for f in chart.latest("post-void-residual").values()
        if f.quantity is not None and f.quantity >= config.pvr_ml
    )
    if residual:
        yield _Trigger("cauda-equina", "cauda-equina/post-void-residual", residual)
    bilateral = bilateral_radicular(chart, exam)
    if bilateral:
        yield _Trigger("cauda-equina", "cauda-equina/bilateral-radicular", bilateral)


def bilateral_radicular(chart: Chart, exam: Exam) -> tuple[Finding, ...]:
    """Radicular symptoms on both sides; stenosis never counts (often bilateral and chronic)."""
    stenosis = {f.reference for f in chart.of("lumbar-stenosis")}
    radicular = [
        f
        for f in chart.asserted("radicular-syndrome")
        if f.resource_type != "Condition" or f.reference not in stenosis
    ]
    for facts in (
        radicular,
        list(exam.positive("straight-leg-raise").values()),
        [d.finding for d in exam.motor_deficits()],
    ):
        if _both_sides(facts):
            return tuple(dict.fromkeys(facts))
    return ()


def _both_sides(facts: Iterable[Finding]) -> bool:
    sides = {side for f in facts for side in sides_of(f.side)}
    return {"left", "right"} <= sides


def _motor(chart: Chart, exam: Exam, config: ClinicalConfig) -> Iterator[_Trigger]:
    severe = tuple(d.finding for d in exam.severe_deficits())
    if severe:
        yield _Trigger("severe-motor-deficit", "severe-motor-deficit/mrc", severe)
    foot_drop = exam.foot_drop()
    if foot_drop:
        yield _Trigger("severe-motor-deficit", "severe-motor-deficit/foot-drop", foot_drop)
    dropped = _progressive(chart)
    if dropped:
        yield _Trigger("progressive-motor-deficit", "progressive-motor-deficit/mrc-drop", dropped)
    reported = chart.asserted("progressive-weakness")
    if reported:
        yield _Trigger("progressive-motor-deficit", "progressive-motor-deficit/reported", reported)
    multilevel = _multilevel(exam.motor_deficits())
    if multilevel:
        yield _Trigger(
            "multilevel-motor-deficit", "multilevel-motor-deficit/non-adjacent-roots", multilevel
        )


def _progressive(chart: Chart) -> tuple[Finding, ...]:
    """A muscle that lost >= 1 MRC grade between its two most recent dated exams.

    Grades recorded at the same instant are one exam, read at its most abnormal grade as the
    chart reads the current state: a duplicate entry must neither fake a drop nor hide one. A
    grade written in a note is an exam of the note's date (rules §6.4); on a day that also has
    a coded grade of that muscle and side, the coded one stands for the day and the note's is
    not a second exam (rules §6.4: on the same day a coded Observation beats the note), so that
    the time a note was dated cannot fake a drop, or hide one, against the exam it reports.
    """
    found: list[Finding] = []
    for muscle in STRENGTH:
        series: dict[str | None, list[tuple[date, Finding]]] = {}
        for f in chart.of(muscle):
            moment = stated(f)
            if f.resource_type in _GRADED and f.grade is not None and moment is not None:
                for side in sides_of(f.side):
                    series.setdefault(side, []).append((moment.date(), f))
        for dated in series.values():
            coded_days = {day for day, f in dated if f.resource_type == "Observation"}
            observations = [
                f for day, f in dated if f.resource_type == "Observation" or day not in coded_days
            ]
            # Oldest first; within an instant the most abnormal grade last.
            ordered = sorted(observations, key=lambda f: (stated(f), -(f.grade or 0)))
            latest = ordered[-1]
            earlier = [f for f in ordered if stated(f) != stated(latest)]
            if not earlier:
                continue
            before = earlier[-1]
            if (before.grade or 0) - (latest.grade or 0) >= 1:
                found.extend((before, latest))
    return tuple(dict.fromkeys(found))


def _multilevel(deficits: tuple[Deficit, ...]) -> tuple[Finding, ...]:
    """Two weak muscles whose roots are all at least two steps apart (rules §2)."""
    found: list[Finding] = []
    for a, b in combinations(deficits, 2):
        if a.muscle == b.muscle:
            continue
        gaps = [
            abs(_ROOT_ORDER.index(x) - _ROOT_ORDER.index(y))
            for x in MUSCLE_ROOTS[a.muscle]
            for y in MUSCLE_ROOTS[b.muscle]
        ]
        if min(gaps) >= 2:
            found.extend((a.finding, b.finding))
    return tuple(dict.fromkeys(found))


def _cord_compression(chart: Chart, exam: Exam) -> Iterator[_Trigger]:
    compression = chart.asserted("spinal-cord-compression")
    if compression:
        yield _Trigger("cord-compression", "cord-compression/condition", compression)
    umn, cancer = exam.umn_signs(), _malignancy(chart)
    if umn and cancer:
        yield _Trigger("cord-compression", "cord-compression/umn-with-malignancy", umn + cancer)


def _malignancy(chart: Chart) -> tuple[Finding, ...]:
    return chart.asserted("malignancy", history=True) + chart.asserted(
        "malignancy-history", history=True
    )


def _risk_factors(chart: Chart, exam: Exam, config: ClinicalConfig) -> Iterator[_Trigger]:
    current = chart.asserted("malignancy")
    if current:
        yield _Trigger("malignancy", "malignancy/current", current)
    history = tuple(f for f in _malignancy(chart) if f not in current)
    if history:
        yield _Trigger("malignancy", "malignancy/history", history)
    immune = chart.asserted("immunosuppression")
    if immune:
        yield _Trigger("infection", "infection/immunosuppression", immune)
    fever, drugs = _fever(chart, config), chart.asserted("injecting-drug-use", history=True)
    if fever and drugs:
        yield _Trigger("infection", "infection/fever-with-injecting-drug-use", fever + drugs)
    for concept, rule in (("osteoporosis", "osteoporosis"), ("long-term-steroids", "steroids")):
        facts = chart.asserted(concept)
        if facts:
            yield _Trigger("fracture", f"fracture/{rule}", facts)
    age = chart.age_years
    if age is not None and age >= config.fracture_age:
        yield _Trigger("fracture", "fracture/age", (), (Evidence(chart.patient, f"Age {age}"),))
    umn = exam.umn_signs()
    if umn and not _malignancy(chart):
        yield _Trigger("upper-motor-neuron", "upper-motor-neuron/signs", umn)


def _fever(chart: Chart, config: ClinicalConfig) -> tuple[Finding, ...]:
    """A current fever finding, or a dated temperature >= threshold within the window."""
    window = timedelta(days=config.fever_window_days)
    measured = tuple(
        f
        for f in chart.of("body-temperature")
        if f.quantity is not None
        and f.quantity >= config.fever_celsius
        and f.when is not None
        and chart.now - f.when <= window
    )
    return chart.asserted("fever") + measured


def _spinal_disease(chart: Chart) -> Iterator[_Trigger]:
    infection = chart.asserted("spinal-infection")
    if infection:
        yield _Trigger("infection", "infection/spinal-infection", infection)
    fracture = chart.asserted("vertebral-fracture")
    if fracture:
        yield _Trigger("fracture", "fracture/vertebral-fracture", fracture)


def _weak_flags(chart: Chart, config: ClinicalConfig) -> tuple[str, ...]:
    """Mentioned in the detail, changing no tier (ACP 2011; Downie 2013)."""
    weak: list[str] = []
    age = chart.age_years
    # From the fracture age on, age is a red flag (rules §2), not also a weak one.
    if age is not None and config.weak_flag_age < age < config.fracture_age:
        weak.append(f"age-over-{config.weak_flag_age}")
    if chart.asserted("weight-loss"):
        weak.append("weight-loss")
    return tuple(weak)


def _not_counted(trigger: _Trigger, why: str) -> list[Evidence]:
    return [_annotated(evidence(f), why) for f in trigger.facts] + [
        _annotated(item, why) for item in trigger.extra
    ]


def _annotated(item: Evidence, why: str) -> Evidence:
    return Evidence(item.reference, f"{item.text} — {why}")
