"""The current neurological examination: deficits, positive signs and UMN signs per side."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Side
from cds_service.clinical.finding import REFLEXES, SENSATIONS, STRENGTH, Finding

#: Primary roots of each key muscle for the multilevel rule (decision-rules.md §1.5).
MUSCLE_ROOTS: Mapping[str, tuple[str, ...]] = {
    "strength-hip-flexion": ("L2",),
    "strength-knee-extension": ("L3", "L4"),
    "strength-ankle-dorsiflexion": ("L4", "L5"),
    "strength-great-toe-extension": ("L5",),
    "strength-hip-abduction": ("L5",),
    "strength-ankle-inversion": ("L5",),
    "strength-ankle-eversion": ("L5", "S1"),
    "strength-ankle-plantarflexion": ("S1",),
}
_DERMATOMES = tuple(s for s in SENSATIONS if s != "sensation-saddle")
# Reflex grades (contract §3): 0 absent, 1 reduced, 2 normal, 3 brisk, 4 with clonus.
_REFLEX_REDUCED_MAX = 1
_REFLEX_UMN = 4


@dataclass(frozen=True)
class Deficit:
    """A muscle (or foot drop, read as ankle dorsiflexion) weak on one side."""

    muscle: str
    side: Side | None
    finding: Finding

    @property
    def grade(self) -> int | None:
        return self.finding.grade


@dataclass(frozen=True)
class Exam:
    """The most recent exam finding per concept and side, read against the thresholds."""

    chart: Chart
    config: ClinicalConfig
    # Several rules ask the same questions of one exam; each answer is worked out once.
    _memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def motor_deficits(self) -> tuple[Deficit, ...]:
        """MRC ≤ ``deficit_mrc_max`` in a key muscle, and foot drop as ankle dorsiflexion."""
        if "motor" not in self._memo:
            self._memo["motor"] = self._motor_deficits()
        return self._memo["motor"]  # type: ignore[no-any-return]

    def _motor_deficits(self) -> tuple[Deficit, ...]:
        found = [
            Deficit(muscle, side, finding)
            for muscle in STRENGTH
            for side, finding in self.chart.latest(muscle).items()
            if finding.grade is not None and finding.grade <= self.config.deficit_mrc_max
        ]
        found.extend(
            Deficit("strength-ankle-dorsiflexion", side, fact)
            for fact in self.foot_drop()
            for side in sides_of(fact.side)
        )
        return tuple(found)

    def severe_deficits(self) -> tuple[Deficit, ...]:
        return tuple(
            d
            for d in self.motor_deficits()
            if d.grade is not None and d.grade <= self.config.severe_mrc_max
        )

    def foot_drop(self) -> tuple[Finding, ...]:
        return self.chart.asserted("foot-drop")

    def reflex_deficits(self) -> tuple[Finding, ...]:
        return self._current(
            REFLEXES, lambda f: f.grade is not None and f.grade <= _REFLEX_REDUCED_MAX
        )

    def sensory_deficits(self) -> tuple[Finding, ...]:
        """Dermatomal (not saddle) sensation reduced or absent."""
        return self._current(_DERMATOMES, lambda f: f.level in ("reduced", "absent"))

    def positive(self, concept: str) -> dict[Side | None, Finding]:
        return {side: f for side, f in self.chart.latest(concept).items() if f.present}

    def umn_signs(self) -> tuple[Finding, ...]:
        """Babinski or clonus positive, or a reflex of grade 4 (rules §1.2)."""
        if "umn" not in self._memo:
            self._memo["umn"] = self._umn_signs()
        return self._memo["umn"]  # type: ignore[no-any-return]

    def _umn_signs(self) -> tuple[Finding, ...]:
        signs = [f for c in ("babinski", "clonus") for f in self.positive(c).values()]
        signs.extend(self._current(REFLEXES, lambda f: f.grade == _REFLEX_UMN))
        return tuple(dict.fromkeys(signs))

    def deficit_sides(self) -> dict[Side | None, list[Finding]]:
        """Every motor, reflex or dermatomal deficit, grouped by side (None = unsided)."""
        sides: dict[Side | None, list[Finding]] = {}
        for deficit in self.motor_deficits():
            sides.setdefault(deficit.side, []).append(deficit.finding)
        for finding in (*self.reflex_deficits(), *self.sensory_deficits()):
            for side in sides_of(finding.side):
                sides.setdefault(side, []).append(finding)
        return sides

    def _current(
        self, concepts: tuple[str, ...], test: Callable[[Finding], bool]
    ) -> tuple[Finding, ...]:
        found = (f for c in concepts for f in self.chart.latest(c).values() if test(f))
        return tuple(dict.fromkeys(found))


def sides_of(side: Side | None) -> tuple[Side | None, ...]:
    """A side as the single sides it stands for: bilateral is left and right."""
    return ("left", "right") if side == "bilateral" else (side,)
