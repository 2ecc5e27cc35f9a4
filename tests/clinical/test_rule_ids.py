"""The audit contract: every rule id of docs/clinical-rules.md is emitted by a record made for it,
with its exact spelling, and the "not counted" notes say what was seen and why it did not count.

The audit trail stores the ids; a report or an integration that filters on them breaks silently
if one is misspelt or never emitted, so each id is asserted here by name.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.evaluation import Assessment
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r

RULES_DOC = Path(__file__).resolve().parents[2] / "docs" / "clinical-rules.md"
CONFIG = ClinicalConfig()
UK = replace(CONFIG, practice_mode="uk")


def _care(days: float = 50) -> dict[str, Any]:
    return r.procedure("410160006", days=days)


def _mri(days: float = 60) -> dict[str, Any]:
    return r.procedure("72148", r.CPT, days=days)


def _weak(concept: str, grade: int = 4, side: str = "left", days: float = 0) -> dict[str, Any]:
    return r.exam(concept, grade, side=side, days=days)


# Rule id -> (record, draft orders for order-sign, config). Each record is the smallest one that
# fires the rule; the disposition and rating rows follow the first-row-wins order of §3 and §4.
CASES: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], ClinicalConfig]] = {
    "radicular/condition": ([r.sciatica()], [], CONFIG),
    "radicular/exam": (
        [r.exam("straight-leg-raise", True, side="left"), _weak("strength-great-toe-extension")],
        [],
        CONFIG,
    ),
    "cauda-equina/condition": ([r.condition("G83.4", days=400)], [], CONFIG),
    "cauda-equina/urinary-retention": ([r.sciatica(), r.condition("R33.9", days=2)], [], CONFIG),
    "cauda-equina/urinary-incontinence": ([r.sciatica(), r.condition("R32", days=2)], [], CONFIG),
    "cauda-equina/faecal-incontinence": ([r.sciatica(), r.observed("72042002")], [], CONFIG),
    "cauda-equina/saddle-anaesthesia": (
        [r.sciatica(), r.observed("saddle-anaesthesia", r.RADIX)],
        [],
        CONFIG,
    ),
    "cauda-equina/sexual-dysfunction": (
        [r.sciatica(), r.condition("56925008", r.SCT, days=3)],
        [],
        CONFIG,
    ),
    "cauda-equina/sensation-saddle": (
        [r.sciatica(), r.exam("sensation-saddle", "absent")],
        [],
        CONFIG,
    ),
    "cauda-equina/anal-tone": ([r.sciatica(), r.exam("anal-tone", "reduced")], [], CONFIG),
    "cauda-equina/post-void-residual": (
        [r.sciatica(), r.exam("post-void-residual", (200, "mL"))],
        [],
        CONFIG,
    ),
    "cauda-equina/bilateral-radicular": (
        [r.sciatica(side="left"), r.sciatica(side="right")],
        [],
        CONFIG,
    ),
    "severe-motor-deficit/mrc": ([r.sciatica(), _weak("strength-hip-abduction", 3)], [], CONFIG),
    "severe-motor-deficit/foot-drop": ([r.sciatica(), r.condition("M21.371")], [], CONFIG),
    "progressive-motor-deficit/mrc-drop": (
        [
            r.sciatica(),
            _weak("strength-hip-abduction", 5, days=9),
            _weak("strength-hip-abduction", 4),
        ],
        [],
        CONFIG,
    ),
    "progressive-motor-deficit/reported": (
        [r.sciatica(), r.condition("progressive-weakness", r.RADIX)],
        [],
        CONFIG,
    ),
    "multilevel-motor-deficit/non-adjacent-roots": (
        [r.sciatica(), _weak("strength-hip-flexion"), _weak("strength-great-toe-extension")],
        [],
        CONFIG,
    ),
    "cord-compression/condition": ([r.condition("71286001", r.SCT)], [], CONFIG),
    "cord-compression/umn-with-malignancy": (
        [r.sciatica(), r.condition("C61"), r.exam("clonus", True)],
        [],
        CONFIG,
    ),
    "malignancy/current": ([r.sciatica(), r.condition("C61")], [], CONFIG),
    "malignancy/history": ([r.sciatica(), r.condition("Z85.3", clinical="resolved")], [], CONFIG),
    "infection/spinal-infection": ([r.sciatica(), r.condition("G06.1")], [], CONFIG),
    "infection/immunosuppression": ([r.sciatica(), r.condition("B20")], [], CONFIG),
    "infection/fever-with-injecting-drug-use": (
        [r.sciatica(), r.condition("228388006", r.SCT), r.condition("R50.9")],
        [],
        CONFIG,
    ),
    "fracture/vertebral-fracture": ([r.sciatica(), r.condition("S32.009A")], [], CONFIG),
    "fracture/osteoporosis": ([r.sciatica(), r.condition("M81.0")], [], CONFIG),
    "fracture/steroids": ([r.sciatica(), r.condition("Z79.52")], [], CONFIG),
    "fracture/age": ([r.patient(r.birth_years_ago(70)), r.sciatica()], [], CONFIG),
    "upper-motor-neuron/signs": ([r.sciatica(), r.exam("babinski", True)], [], CONFIG),
    "localisation/suppressed-by-upper-motor-neuron": (
        [r.sciatica(), r.exam("reflex-patellar", 4, side="left")],
        [],
        CONFIG,
    ),
    "disposition/emergency-red-flag": ([r.sciatica(), r.condition("G83.4")], [], CONFIG),
    "disposition/urgent-red-flag": ([r.sciatica(), r.condition("C61")], [], CONFIG),
    "disposition/none": ([r.low_back_pain()], [], CONFIG),
    "disposition/specialist-review-recent-mri": (
        [r.sciatica(days=70), _care(), _mri()],
        [],
        CONFIG,
    ),
    "disposition/specialist-review-uk": ([r.sciatica(days=70), _care()], [], UK),
    "disposition/mri-persistent-after-care": ([r.sciatica(days=70), _care()], [], CONFIG),
    "disposition/mri-prior-surgery": ([r.sciatica(days=7), r.condition("M96.1")], [], CONFIG),
    "disposition/physiotherapy-duration-unknown": ([r.condition("M54.16", days=None)], [], CONFIG),
    "disposition/physiotherapy-under-6-weeks": ([r.sciatica(days=20)], [], CONFIG),
    "disposition/physiotherapy-no-conservative-care": ([r.sciatica(days=70)], [], CONFIG),
    "order-rating/no-criteria": ([r.condition("I10")], [r.draft_mri()], CONFIG),
    "order-rating/red-flag": ([r.sciatica(), r.condition("C61")], [r.draft_mri()], CONFIG),
    "order-rating/duplicate-mri": ([r.sciatica(days=90), _mri()], [r.draft_mri()], CONFIG),
    "order-rating/persistent-after-conservative-care": (
        [r.sciatica(days=70), _care()],
        [r.draft_mri()],
        CONFIG,
    ),
    "order-rating/prior-lumbar-surgery": (
        [r.sciatica(days=7), r.condition("M96.1")],
        [r.draft_mri()],
        CONFIG,
    ),
    "order-rating/conservative-care-first": ([r.sciatica(days=20)], [r.draft_mri()], CONFIG),
}


def _assess(
    record: list[dict[str, Any]],
    orders: list[dict[str, Any]],
    config: ClinicalConfig,
    knowledge: Knowledge,
) -> Assessment:
    return evaluate(
        record, orders, hook="order-sign", now=r.NOW, knowledge=knowledge, config=config
    ).assessment


#: Code spans shaped like a rule id that are media types, which the notes section names.
_MEDIA_TYPES = frozenset({"text", "application", "image"})


def test_every_documented_rule_id_has_a_case() -> None:
    spans = re.findall(r"`([a-z-]+/[a-z0-9-]+)`", RULES_DOC.read_text("utf-8"))
    documented = {span for span in spans if span.split("/")[0] not in _MEDIA_TYPES}
    assert documented == set(CASES)


@pytest.mark.parametrize("rule", CASES)
def test_the_rule_id_is_emitted(rule: str, knowledge: Knowledge) -> None:
    record, orders, config = CASES[rule]
    assert rule in _assess(record, orders, config, knowledge).rules


def test_the_rules_of_one_answer_in_report_order(knowledge: Knowledge) -> None:
    record = [
        r.sciatica(side="left"),
        r.sciatica(side="right"),
        r.condition("C61"),
        r.exam("reflex-patellar", 4, side="left"),
        _weak("strength-hip-abduction", 3),
    ]
    rules = _assess(record, [r.draft_mri()], CONFIG, knowledge).rules
    assert rules == (
        "radicular/condition",
        "cauda-equina/bilateral-radicular",
        "severe-motor-deficit/mrc",
        "cord-compression/umn-with-malignancy",
        "malignancy/current",
        "localisation/suppressed-by-upper-motor-neuron",
        "disposition/emergency-red-flag",
        "order-rating/red-flag",
    )


def test_flags_are_reported_in_tier_order_with_their_rules(knowledge: Knowledge) -> None:
    record = [
        r.patient(r.birth_years_ago(75)),
        r.sciatica(),
        r.condition("M81.0"),
        r.condition("B20"),
        r.condition("C61"),
        r.exam("babinski", True),
        r.condition("R33.9", days=2),
        r.condition("progressive-weakness", r.RADIX),
    ]
    flags = _assess(record, [], CONFIG, knowledge).red_flags
    assert [(f.id, f.tier, f.rules) for f in flags] == [
        ("cauda-equina", "emergency", ("cauda-equina/urinary-retention",)),
        ("progressive-motor-deficit", "emergency", ("progressive-motor-deficit/reported",)),
        ("cord-compression", "emergency", ("cord-compression/umn-with-malignancy",)),
        ("malignancy", "urgent", ("malignancy/current",)),
        ("infection", "urgent", ("infection/immunosuppression",)),
        ("fracture", "urgent", ("fracture/osteoporosis", "fracture/age")),
    ]


# --- "not counted" (rules §1.6 and §2) ---------------------------------------------------------


def test_long_standing_ces_symptoms_are_listed_not_counted(knowledge: Knowledge) -> None:
    old = r.condition("R32", days=31)
    recent = r.condition("R33.9", days=29)
    assessment = _assess([r.sciatica(), old, recent], [], CONFIG, knowledge)
    assert assessment.rules[1:2] == ("cauda-equina/urinary-retention",)
    assert [(e.reference, e.text) for e in assessment.not_counted] == [
        (
            f"Condition/{old['id']}",
            "Urinary incontinence, since 20 Oct 2026 — long-standing, not counted",
        )
    ]
    # Exactly at the recency limit still counts (30 days).
    limit = _assess([r.sciatica(), r.condition("R32", days=30)], [], CONFIG, knowledge)
    assert "cauda-equina/urinary-incontinence" in limit.rules and limit.not_counted == ()


def test_without_back_pain_each_fact_is_listed_once_with_why(knowledge: Knowledge) -> None:
    cancer = r.condition("C61", days=100)
    weak = _weak("strength-ankle-plantarflexion", 2, side="right")
    assessment = _assess([r.patient(r.birth_years_ago(80)), cancer, weak], [], CONFIG, knowledge)
    assert assessment.red_flags == () and assessment.disposition == "none"
    why = " — no back pain recorded, not counted"
    assert [(e.reference, e.text) for e in assessment.not_counted] == [
        (f"Observation/{weak['id']}", f"Ankle plantarflexion 2/5 (right), 20 Nov 2026{why}"),
        (f"Condition/{cancer['id']}", f"Malignancy, since 12 Aug 2026{why}"),
        (assessment.not_counted[2].reference, f"Age 80{why}"),
    ]
    assert assessment.not_counted[2].reference.startswith("Patient/")


def test_a_fact_behind_two_triggers_is_not_counted_once(knowledge: Knowledge) -> None:
    # Babinski with a past cancer raises cord compression and the cancer raises malignancy:
    # without back pain the cancer is one note, not two.
    cancer, sign = r.condition("Z85.3", clinical="resolved"), r.exam("babinski", True)
    notes = _assess([cancer, sign], [], CONFIG, knowledge).not_counted
    assert [e.reference for e in notes] == [
        f"Observation/{sign['id']}",
        f"Condition/{cancer['id']}",
    ]


# --- red-flag details the issue names -----------------------------------------------------------


def test_stenosis_never_makes_radicular_symptoms_bilateral(knowledge: Knowledge) -> None:
    # A Condition coded both as radiculopathy and as stenosis is a stenosis diagnosis.
    both = r.condition("M54.16", side="bilateral")
    both["code"]["coding"].append({"system": r.ICD, "code": "M48.062"})
    assessment = _assess([both], [], CONFIG, knowledge)
    assert "cauda-equina/bilateral-radicular" not in assessment.rules
    assert assessment.rules[0] == "radicular/condition"
    # The same radiculopathy without the stenosis code is bilateral.
    plain = r.condition("M54.16", side="bilateral")
    assert "cauda-equina/bilateral-radicular" in _assess([plain], [], CONFIG, knowledge).rules
    # One stenosis Condition does not hide another, non-stenosis radicular Condition's side.
    left, right = r.condition("M54.32"), r.condition("M54.16", side="right")
    right["code"]["coding"].append({"system": r.ICD, "code": "M48.062"})
    assert (
        "cauda-equina/bilateral-radicular"
        not in _assess([left, right], [], CONFIG, knowledge).rules
    )
    # An Observation of radicular pain on each leg is bilateral whatever the stenosis record.
    legs = [
        r.observed("23056005", side="left"),
        r.observed("23056005", side="right"),
        r.condition("M48.062", side="bilateral"),
    ]
    assert "cauda-equina/bilateral-radicular" in _assess(legs, [], CONFIG, knowledge).rules


def test_malignancy_history_counts_as_history(knowledge: Knowledge) -> None:
    def rules(*cancer: dict[str, Any]) -> tuple[str, ...]:
        assessment = _assess([r.sciatica(), *cancer], [], CONFIG, knowledge)
        return tuple(x for x in assessment.rules if x.startswith("malignancy/"))

    assert rules(r.condition("C61")) == ("malignancy/current",)
    assert rules(r.condition("C61", clinical="remission")) == ("malignancy/history",)
    assert rules(r.condition("Z85.3")) == ("malignancy/history",)
    assert rules(r.condition("Z85.3", clinical="resolved")) == ("malignancy/history",)
    assert rules(r.observed("415076002")) == ("malignancy/history",)
    assert rules(r.condition("C61"), r.condition("Z85.46")) == (
        "malignancy/current",
        "malignancy/history",
    )
    assert rules(r.condition("C61", verification="refuted")) == ()
