from __future__ import annotations

from typing import Any

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Localisation
from cds_service.clinical.exam import Exam
from cds_service.clinical.knowledge import Knowledge
from cds_service.clinical.localisation import DISC_LEVELS, WEIGHTS, localise
from tests.clinical import records as r


def _localise(record: list[dict[str, Any]], knowledge: Knowledge) -> Localisation | None:
    return localise(Exam(Chart.read(record, knowledge, r.NOW), ClinicalConfig()))


def test_l5_pattern(knowledge: Knowledge) -> None:
    loc = _localise([r.exam("strength-great-toe-extension", 4, side="left"),
                     r.exam("strength-hip-abduction", 4, side="left"),
                     r.exam("sensation-dorsum-foot", "reduced", side="left"),
                     r.exam("straight-leg-raise", True, side="left")], knowledge)
    assert loc is not None
    assert (loc.root, loc.side) == ("L5", "left")
    assert loc.disc_levels == ("L4-L5 paracentral", "L5-S1 far lateral")
    assert 0 < loc.confidence <= 1
    assert [c.root for c in loc.candidates][:1] == ["S1"]
    assert len(loc.evidence) == 4


def test_reflex_asymmetry_outweighs_sensation(knowledge: Knowledge) -> None:
    loc = _localise([r.exam("reflex-achilles", 0, side="right"),
                     r.exam("sensation-dorsum-foot", "reduced", side="right")], knowledge)
    assert loc is not None and loc.root == "S1"


def test_provocation_alone_names_no_root(knowledge: Knowledge) -> None:
    assert _localise([r.exam("straight-leg-raise", True, side="left")], knowledge) is None
    assert _localise([r.exam("femoral-nerve-stretch", True, side="left")], knowledge) is None


def test_a_tie_names_no_root(knowledge: Knowledge) -> None:
    record = [r.exam("strength-ankle-dorsiflexion", 2, side="left")]
    assert _localise(record, knowledge) is None


def test_umn_signs_suppress_localisation(knowledge: Knowledge) -> None:
    record = [r.exam("strength-great-toe-extension", 4, side="left"),
              r.exam("strength-hip-abduction", 4, side="left")]
    assert _localise(record, knowledge) is not None
    for sign in (r.exam("babinski", True), r.exam("clonus", True, side="right"),
                 r.exam("reflex-achilles", 4, side="left")):
        assert _localise([*record, sign], knowledge) is None


def test_same_root_on_both_sides_is_bilateral(knowledge: Knowledge) -> None:
    loc = _localise([r.exam("reflex-achilles", 0, side="left"),
                     r.exam("strength-ankle-plantarflexion", 4, side="left"),
                     r.exam("reflex-achilles", 0, side="right"),
                     r.exam("strength-ankle-plantarflexion", 4, side="right")], knowledge)
    assert loc is not None and (loc.root, loc.side) == ("S1", "bilateral")


def test_normal_and_older_findings_do_not_vote(knowledge: Knowledge) -> None:
    record = [r.exam("reflex-achilles", 0, side="left", days=30),
              r.exam("reflex-achilles", 2, side="left", days=0),
              r.exam("strength-great-toe-extension", 4, side="left")]
    loc = _localise(record, knowledge)
    assert loc is not None and loc.root == "L5"


def test_every_weight_names_a_root_with_a_disc() -> None:
    for roots in WEIGHTS.values():
        assert set(roots) <= set(DISC_LEVELS)
