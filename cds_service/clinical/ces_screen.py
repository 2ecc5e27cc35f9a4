"""Which cauda-equina screening items were documented, either way, and which are unknown.

The items follow the UK GIRFT suspected-CES pathway questions (clinical.md §1.5, §2.1):
bladder (retention, incontinence), bowel, saddle sensation, sexual function, bilateral leg
symptoms, and anal tone on examination. Post-void residual is a test done once retention is
suspected, not a screening question, so it documents retention but is not listed itself.
"""

from __future__ import annotations

from collections.abc import Mapping

from cds_service.clinical.chart import Chart
from cds_service.clinical.evaluation import CesScreen
from cds_service.clinical.exam import sides_of
from cds_service.clinical.finding import STRENGTH

#: Screening item → the concepts whose documentation answers it.
ITEMS: Mapping[str, tuple[str, ...]] = {
    "urinary-retention": ("urinary-retention", "post-void-residual"),
    "urinary-incontinence": ("urinary-incontinence",),
    "faecal-incontinence": ("faecal-incontinence",),
    "saddle-anaesthesia": ("saddle-anaesthesia", "sensation-saddle"),
    "sexual-dysfunction": ("sexual-dysfunction",),
    "bilateral-symptoms": (),
    "anal-tone": ("anal-tone",),
}


def screen(chart: Chart) -> CesScreen:
    """Documented vs unknown; no record at all is unknown, never negative."""
    documented = [
        item for item, concepts in ITEMS.items()
        if any(chart.documented(c) for c in concepts)
        or (item == "bilateral-symptoms" and _sides_documented(chart))
    ]
    unknown = [item for item in ITEMS if item not in documented]
    return CesScreen(tuple(documented), tuple(unknown))


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
