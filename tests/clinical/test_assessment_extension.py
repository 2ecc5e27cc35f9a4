"""The org.radix-cds.assessment JSON (docs/assessment-contract.md) field by field, from the
contract's own example record, and the omission of what is unknown."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import Knowledge
from tests.clinical import records as r

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "assessment-contract.md"


def _named(resource: dict[str, Any], ident: str) -> dict[str, Any]:
    return {**resource, "id": ident}


def _example_record() -> list[dict[str, Any]]:
    """The contract's example: urinary retention for two days and a left L5 pattern."""
    return [
        _named(r.patient("1980-08-15"), "p1"),
        _named(r.condition("M54.16", days=14), "sciatica-1"),
        _named(r.condition("R33.9", days=2), "retention-1"),
        _named(r.exam("strength-great-toe-extension", 4, side="left"), "ehl-left"),
        _named(r.exam("straight-leg-raise", True, side="left"), "slr-left"),
        _named(r.exam("sensation-dorsum-foot", "reduced", side="left"), "dorsum-left"),
        _named(r.observed("72042002", value=False), "faecal-1"),
        _named(r.observed("saddle-anaesthesia", r.RADIX, value=False), "saddle-1"),
    ]


def test_the_contract_example_is_what_radix_answers(knowledge: Knowledge) -> None:
    evaluation = evaluate(
        _example_record(), [], hook="patient-view", now=r.NOW, knowledge=knowledge
    )
    answer = evaluation.assessment.to_extension()
    block = re.search(r"```json\n(\{.*?\n\})\n```", CONTRACT.read_text("utf-8"), re.DOTALL)
    assert block is not None
    documented = json.loads(block.group(1))
    assert answer["knowledgeVersion"] == knowledge.version
    assert {k: v for k, v in answer.items() if k != "knowledgeVersion"} == {
        k: v for k, v in documented.items() if k != "knowledgeVersion"
    }


def test_every_field_when_known(knowledge: Knowledge) -> None:
    record = [
        _named(r.patient("1980-08-15"), "p1"),
        _named(r.condition("M54.16", days=61), "sciatica-1"),
        _named(r.condition("C61"), "cancer-1"),
        _named(r.condition("I73.9"), "pad-1"),
        _named(r.procedure("410160006", days=33), "physio-1"),
        _named(r.exam("reflex-achilles", 0, side="right"), "achilles-right"),
        _named(r.exam("strength-ankle-plantarflexion", 4, side="right"), "plantar-right"),
        _named(r.exam("reflex-patellar", 1, side="right"), "patellar-right"),
    ]
    answer = evaluate(
        record, [r.draft_mri()], hook="order-sign", now=r.NOW, knowledge=knowledge
    ).assessment.to_extension()
    assert answer == {
        "disposition": "urgent-imaging",
        "redFlags": [
            {
                "id": "malignancy",
                "tier": "urgent",
                "evidence": ["Condition/cancer-1"],
                "rules": ["malignancy/current"],
            }
        ],
        # S1 6, L4 3, L3 2 on the right: 6/11 x 6/8 = 0.409; L4 3/11 x 3/5; L3 2/11 x 2/4.
        "localisation": {
            "root": "S1",
            "side": "right",
            "confidence": 0.41,
            "discLevels": ["L5-S1 paracentral"],
            "candidates": [
                {"root": "L4", "side": "right", "score": 0.16},
                {"root": "L3", "side": "right", "score": 0.09},
            ],
            "evidence": ["Observation/plantar-right", "Observation/achilles-right"],
        },
        "symptomWeeks": 8.7,
        "conservativeCareWeeks": 4.7,
        "cesScreen": {
            "unknown": [
                "urinary-retention",
                "urinary-incontinence",
                "faecal-incontinence",
                "saddle-anaesthesia",
                "sexual-dysfunction",
                "bilateral-symptoms",
                "anal-tone",
            ]
        },
        "differentials": ["peripheral-arterial-disease"],
        "rules": [
            "radicular/condition",
            "malignancy/current",
            "disposition/urgent-red-flag",
            "order-rating/red-flag",
        ],
        "knowledgeVersion": knowledge.version,
    }


def test_unknown_is_omitted(knowledge: Knowledge) -> None:
    answer = evaluate(
        [], [], hook="patient-view", now=r.NOW, knowledge=knowledge
    ).assessment.to_extension()
    assert answer == {
        "disposition": "none",
        "cesScreen": {
            "unknown": [
                "urinary-retention",
                "urinary-incontinence",
                "faecal-incontinence",
                "saddle-anaesthesia",
                "sexual-dysfunction",
                "bilateral-symptoms",
                "anal-tone",
            ]
        },
        "rules": ["disposition/none"],
        "knowledgeVersion": knowledge.version,
    }
