"""Cauda-equina screening items: documented present, documented absent, or unknown.

The items follow the UK GIRFT suspected-CES pathway questions (clinical.md §1.5, §2.1):
bladder (retention, incontinence), bowel, saddle sensation, sexual function, bilateral leg
symptoms, and anal tone on examination. Post-void residual is a test done once retention is
suspected, not a screening question, so it documents retention but is not listed itself.

"Present" says the record holds the feature (a long-standing one too: whether it counts as a
red flag is the red-flag rules' business); "absent" that it was looked for and not found; no
record at all is unknown, never absent.
"""

from __future__ import annotations

from collections.abc import Mapping

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import CesScreen
from cds_service.clinical.exam import Exam, sides_of
from cds_service.clinical.finding import STRENGTH
from cds_service.clinical.red_flag import bilateral_radicular

#: Screening item → the concepts whose documentation answers it.
ITEMS: Mapping[str, tuple[str, ...]] = {
    "urinary-retention": ("urinary-retention", "post-void-residual"),
    "urinary-incontinence": ("urinary-incontinence",),
    "faecal-incontinence": ("faecal-incontinence",),
    "saddle-anaesthesia": ("saddle-anaesthesia", "sensation-saddle"),
    "sexual-dysfunction": ("sexual-dysfunction",),
    # Documented absent only by a note's "no symptoms in both legs" (or both legs examined).
    "bilateral-symptoms": ("bilateral-leg-symptoms",),
    "anal-tone": ("anal-tone",),
}


def screen(chart: Chart, exam: Exam, config: ClinicalConfig) -> CesScreen:
    """Each item present, absent or unknown; no record at all is unknown, never negative."""
    present: list[str] = []
    absent: list[str] = []
    unknown: list[str] = []
    for item, concepts in ITEMS.items():
        if _present(item, concepts, chart, exam, config):
            present.append(item)
        elif any(chart.documented(c) for c in concepts) or (
            item == "bilateral-symptoms" and _sides_documented(chart)
        ):
            absent.append(item)
        else:
            unknown.append(item)
    return CesScreen(tuple(present), tuple(absent), tuple(unknown))


def _present(
    item: str, concepts: tuple[str, ...], chart: Chart, exam: Exam, config: ClinicalConfig
) -> bool:
    if item == "bilateral-symptoms":
        return bool(bilateral_radicular(chart, exam))
    for concept in concepts:
        if chart.asserted(concept):
            return True
        for finding in chart.latest(concept).values():
            # Graded signs: reduced or absent saddle sensation / anal tone is the feature.
            if finding.level in ("reduced", "absent"):
                return True
            if finding.quantity is not None and finding.quantity >= config.pvr_ml:
                return True
    return False


def _sides_documented(chart: Chart) -> bool:
    """Both legs examined (SLR or a key muscle on each side), or radicular pain in both legs.

    A one-sided diagnosis says nothing about the other leg: that stays unknown, never negative.
    """
    if any(f.side == "bilateral" for f in chart.asserted("radicular-syndrome")):
        return True
    for concept in ("straight-leg-raise", *STRENGTH):
        sides = {s for side in chart.latest(concept) for s in sides_of(side)}
        if {"left", "right"} <= sides:
            return True
    return False
