from __future__ import annotations

from typing import Any

import pytest

from cds_service.clinical.chart import Chart
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Localisation, RootCandidate, Side
from cds_service.clinical.exam import Exam
from cds_service.clinical.knowledge import Knowledge
from cds_service.clinical.localisation import DISC_LEVELS, WEIGHTS, localise
from tests.clinical import records as r


def _localise(
    record: list[dict[str, Any]], knowledge: Knowledge, fallback: Side | None = None
) -> Localisation | None:
    return localise(Exam(Chart.read(record, knowledge, r.NOW), ClinicalConfig()), fallback)


def _abnormal(concept: str, side: str | None = "left") -> dict[str, Any]:
    """The abnormal form of an exam finding: MRC 4, reflex 1, sensation reduced, test positive."""
    if concept.startswith("strength-"):
        return r.exam(concept, 4, side=side)
    if concept.startswith("reflex-"):
        return r.exam(concept, 1, side=side)
    if concept.startswith("sensation-"):
        return r.exam(concept, "reduced", side=side)
    return r.exam(concept, True, side=side)


def _candidates(*rows: tuple[str, str, float]) -> tuple[RootCandidate, ...]:
    return tuple(RootCandidate(root, side, score) for root, side, score in rows)  # type: ignore[arg-type]


def test_l5_pattern(knowledge: Knowledge) -> None:
    loc = _localise(
        [
            r.exam("strength-great-toe-extension", 4, side="left"),
            r.exam("strength-hip-abduction", 4, side="left"),
            r.exam("sensation-dorsum-foot", "reduced", side="left"),
            r.exam("straight-leg-raise", True, side="left"),
        ],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side) == ("L5", "left")
    assert loc.disc_levels == ("L4-L5 paracentral", "L5-S1 far lateral")
    assert 0 < loc.confidence <= 1
    assert [c.root for c in loc.candidates][:1] == ["S1"]
    assert len(loc.evidence) == 4


def test_reflex_asymmetry_outweighs_sensation(knowledge: Knowledge) -> None:
    loc = _localise(
        [
            r.exam("reflex-achilles", 0, side="right"),
            r.exam("sensation-dorsum-foot", "reduced", side="right"),
        ],
        knowledge,
    )
    assert loc is not None and loc.root == "S1"


def test_provocation_alone_names_no_root(knowledge: Knowledge) -> None:
    assert _localise([r.exam("straight-leg-raise", True, side="left")], knowledge) is None
    assert _localise([r.exam("femoral-nerve-stretch", True, side="left")], knowledge) is None


def test_a_tie_names_no_root(knowledge: Knowledge) -> None:
    record = [r.exam("strength-ankle-dorsiflexion", 2, side="left")]
    assert _localise(record, knowledge) is None


def test_umn_signs_suppress_localisation(knowledge: Knowledge) -> None:
    record = [
        r.exam("strength-great-toe-extension", 4, side="left"),
        r.exam("strength-hip-abduction", 4, side="left"),
    ]
    assert _localise(record, knowledge) is not None
    for sign in (
        r.exam("babinski", True),
        r.exam("clonus", True, side="right"),
        r.exam("reflex-achilles", 4, side="left"),
    ):
        assert _localise([*record, sign], knowledge) is None


def test_same_root_on_both_sides_is_bilateral(knowledge: Knowledge) -> None:
    loc = _localise(
        [
            r.exam("reflex-achilles", 0, side="left"),
            r.exam("strength-ankle-plantarflexion", 4, side="left"),
            r.exam("reflex-achilles", 0, side="right"),
            r.exam("strength-ankle-plantarflexion", 4, side="right"),
        ],
        knowledge,
    )
    assert loc is not None and (loc.root, loc.side) == ("S1", "bilateral")


def test_normal_and_older_findings_do_not_vote(knowledge: Knowledge) -> None:
    record = [
        r.exam("reflex-achilles", 0, side="left", days=30),
        r.exam("reflex-achilles", 2, side="left", days=0),
        r.exam("strength-great-toe-extension", 4, side="left"),
    ]
    loc = _localise(record, knowledge)
    assert loc is not None and loc.root == "L5"


def test_every_weight_names_a_root_with_a_disc() -> None:
    for roots in WEIGHTS.values():
        assert set(roots) <= set(DISC_LEVELS)


# Rules §1.2 by hand: each root scores the sum of the table's weights; confidence is
# (root / all roots on the side) x root / (root + 2), rounded to 4 places. One row per entry of
# the weight table: a weight deleted or moved changes the root, the confidence or a runner-up.
WEIGHT_ROWS = [
    # (abnormal findings on the left leg, root, confidence, runner-ups on the left)
    (["strength-hip-flexion"], "L2", 0.45, [("L3", 0.0833)]),  # L2 3, L3 1
    (["strength-knee-extension"], "L3", 0.36, [("L4", 0.2)]),  # L3 3, L4 2
    # Dorsiflexion alone ties L4 and L5 (2 each); great toe extension (L5 3) settles it.
    (
        ["strength-ankle-dorsiflexion", "strength-great-toe-extension"],
        "L5",
        0.5102,
        [("L4", 0.1429)],
    ),
    (["strength-great-toe-extension"], "L5", 0.6, []),
    (["strength-hip-abduction"], "L5", 0.6, []),
    (["strength-ankle-inversion"], "L5", 0.5, []),
    # Eversion alone ties L5 and S1 (1.5 each); plantarflexion (S1 3) settles it.
    (["strength-ankle-eversion", "strength-ankle-plantarflexion"], "S1", 0.5192, [("L5", 0.1071)]),
    (["strength-ankle-plantarflexion"], "S1", 0.6, []),
    (["reflex-patellar"], "L4", 0.36, [("L3", 0.2)]),  # L3 2, L4 3
    (["reflex-achilles"], "S1", 0.6, []),
    (["reflex-medial-hamstring"], "L5", 0.3333, []),  # 1
    (["sensation-anterior-thigh"], "L2", 0.4286, []),  # 1.5
    (["sensation-medial-knee"], "L3", 0.3333, []),  # 1
    (["sensation-medial-ankle"], "L4", 0.4286, []),  # 1.5
    (["sensation-dorsum-foot"], "L5", 0.3333, []),  # 1
    (["sensation-lateral-foot"], "S1", 0.3333, []),  # 1
    # Provocation tests name no root alone; with a deficit they add to every root they support.
    (["straight-leg-raise", "reflex-achilles"], "S1", 0.4848, [("L5", 0.0606), ("L4", 0.0182)]),
    (["crossed-straight-leg-raise", "reflex-achilles"], "S1", 0.5333, [("L5", 0.0667)]),
    (["femoral-nerve-stretch", "reflex-patellar"], "L4", 0.3137, [("L3", 0.262), ("L2", 0.0392)]),
]


@pytest.mark.parametrize(
    ("concepts", "root", "confidence", "runner_ups"),
    WEIGHT_ROWS,
    ids=["+".join(row[0]) for row in WEIGHT_ROWS],
)
def test_every_weight_of_the_table(
    concepts: list[str],
    root: str,
    confidence: float,
    runner_ups: list[tuple[str, float]],
    knowledge: Knowledge,
) -> None:
    loc = _localise([_abnormal(c) for c in concepts], knowledge)
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == (root, "left", confidence)
    assert loc.candidates == _candidates(*((c, "left", s) for c, s in runner_ups))


def test_weak_plantarflexion_and_slr_right_is_s1_right(knowledge: Knowledge) -> None:
    loc = _localise(
        [
            r.exam("strength-ankle-plantarflexion", 4, side="right"),
            r.exam("straight-leg-raise", True, side="right"),
        ],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("S1", "right", 0.4848)
    assert loc.candidates == _candidates(("L5", "right", 0.0606), ("L4", "right", 0.0182))


@pytest.mark.parametrize(
    ("concept", "root", "discs"),
    [
        ("strength-hip-flexion", "L2", ("L1-L2 paracentral", "L2-L3 far lateral")),
        ("strength-knee-extension", "L3", ("L2-L3 paracentral", "L3-L4 far lateral")),
        ("reflex-patellar", "L4", ("L3-L4 paracentral", "L4-L5 far lateral")),
        ("strength-great-toe-extension", "L5", ("L4-L5 paracentral", "L5-S1 far lateral")),
        ("reflex-achilles", "S1", ("L5-S1 paracentral",)),
    ],
)
def test_disc_levels_of_every_root(
    concept: str, root: str, discs: tuple[str, ...], knowledge: Knowledge
) -> None:
    loc = _localise([_abnormal(concept, "right")], knowledge)
    assert loc is not None and (loc.root, loc.side) == (root, "right")
    assert loc.disc_levels == discs


def test_provocation_signs_alone_name_no_root(knowledge: Knowledge) -> None:
    signs = ["straight-leg-raise", "crossed-straight-leg-raise", "femoral-nerve-stretch"]
    assert _localise([_abnormal(s) for s in signs], knowledge) is None
    # A negative test is not evidence: it neither adds nor subtracts.
    negative = [r.exam(s, False, side="left") for s in signs]
    loc = _localise([*negative, _abnormal("reflex-achilles")], knowledge)
    assert loc is not None and (loc.root, loc.confidence, loc.candidates) == ("S1", 0.6, ())


def test_foot_drop_votes_for_ankle_dorsiflexion_on_its_side(knowledge: Knowledge) -> None:
    # Rules §1.5: foot drop (here a Condition, side from the ICD digit: M21.372 left) is weak
    # ankle dorsiflexion, L4 2 and L5 2, on the left only.
    loc = _localise([r.condition("M21.372"), _abnormal("strength-great-toe-extension")], knowledge)
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("L5", "left", 0.5102)
    assert loc.candidates == _candidates(("L4", "left", 0.1429))
    # As a code-only Observation with a bodySite, and on its own: L4 and L5 tie, no root.
    drop = r.observed("6077001", side="right")
    assert _localise([drop], knowledge) is None
    loc = _localise([drop, _abnormal("strength-great-toe-extension", "right")], knowledge)
    assert loc is not None and (loc.root, loc.side, loc.confidence) == ("L5", "right", 0.5102)


def test_bilateral_foot_drop_votes_on_both_legs(knowledge: Knowledge) -> None:
    record = [
        r.condition("6077001", r.SCT, side="bilateral"),
        _abnormal("strength-great-toe-extension", "left"),
        _abnormal("strength-great-toe-extension", "right"),
    ]
    loc = _localise(record, knowledge)
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("L5", "bilateral", 0.5102)
    assert loc.candidates == _candidates(("L4", "left", 0.1429), ("L4", "right", 0.1429))


def test_bilateral_from_a_share_of_at_least_08(knowledge: Knowledge) -> None:
    # L5 6 on the left, 5 on the right: 5 / 6 >= 0.8, bilateral, scored on the stronger side.
    loc = _localise(
        [
            _abnormal("strength-great-toe-extension", "left"),
            _abnormal("strength-hip-abduction", "left"),
            _abnormal("strength-great-toe-extension", "right"),
            _abnormal("strength-ankle-inversion", "right"),
        ],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence, loc.candidates) == ("L5", "bilateral", 0.75, ())
    assert len(loc.evidence) == 4
    # Exactly 0.8 (5 left, 4 right) is bilateral; 0.6 (5 left, 3 right) is not.
    left = [
        _abnormal("strength-great-toe-extension", "left"),
        _abnormal("strength-ankle-inversion", "left"),
    ]
    right = [
        _abnormal("strength-ankle-inversion", "right"),
        _abnormal("sensation-dorsum-foot", "right"),
    ]
    loc = _localise([*left, *right, _abnormal("reflex-medial-hamstring", "right")], knowledge)
    assert loc is not None and (loc.side, loc.confidence) == ("bilateral", 0.7143)
    loc = _localise([*left, *right], knowledge)
    assert loc is not None and (loc.root, loc.side, loc.confidence) == ("L5", "left", 0.7143)
    assert loc.candidates == _candidates(("L5", "right", 0.6))
    assert len(loc.evidence) == 2  # the other leg's findings are not this root's evidence


def test_a_finding_on_the_other_leg_alone_is_not_bilateral(knowledge: Knowledge) -> None:
    loc = _localise(
        [
            _abnormal("strength-great-toe-extension", "left"),
            _abnormal("strength-hip-abduction", "left"),
            _abnormal("straight-leg-raise", "right"),
        ],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("L5", "left", 0.75)
    assert loc.candidates == _candidates(
        ("L5", "right", 0.1333), ("S1", "right", 0.1333), ("L4", "right", 0.04)
    )


def test_a_crossed_slr_never_makes_a_root_bilateral(knowledge: Knowledge) -> None:
    # S1: 3 left; 1.5 + 1 (crossed SLR) right. 2.5 / 3 would be bilateral, 1.5 / 3 is not.
    loc = _localise(
        [
            _abnormal("reflex-achilles", "left"),
            _abnormal("strength-ankle-eversion", "right"),
            _abnormal("crossed-straight-leg-raise", "right"),
        ],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("S1", "left", 0.6)
    assert loc.candidates == _candidates(("L5", "right", 0.2778), ("S1", "right", 0.2778))


def test_a_crossed_slr_gives_its_side_to_an_unsided_deficit(knowledge: Knowledge) -> None:
    # The crossed SLR is recorded on the painful leg: it alone has a side, so it names it.
    loc = _localise(
        [_abnormal("crossed-straight-leg-raise", "left"), _abnormal("reflex-achilles", None)],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("S1", "left", 0.5333)
    assert loc.candidates == _candidates(("S1", "right", 0.6), ("L5", "left", 0.0667))


def test_a_finding_recorded_as_bilateral_counts_on_both_legs(knowledge: Knowledge) -> None:
    loc = _localise([_abnormal("reflex-achilles", "bilateral")], knowledge)
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence, loc.candidates) == ("S1", "bilateral", 0.6, ())


def test_unsided_findings_take_the_radicular_side_or_name_nothing(knowledge: Knowledge) -> None:
    record = [_abnormal("reflex-achilles", None), _abnormal("sensation-lateral-foot", None)]
    assert _localise(record, knowledge) is None
    loc = _localise(record, knowledge, fallback="right")
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("S1", "right", 0.6667)
    # The unsided findings count on the other leg too: its score is a runner-up.
    assert loc.candidates == _candidates(("S1", "left", 0.6667))
    assert len(loc.evidence) == 2


def test_equal_scores_on_different_legs_are_not_a_tie(knowledge: Knowledge) -> None:
    loc = _localise(
        [
            _abnormal("strength-great-toe-extension", "left"),
            _abnormal("strength-ankle-plantarflexion", "right"),
        ],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("L5", "left", 0.6)
    assert loc.candidates == _candidates(("S1", "right", 0.6))


def test_at_most_four_runner_ups_best_first(knowledge: Knowledge) -> None:
    # L4 left 4 (patellar 3 + FNS 1) ties S1 right 4 (Achilles 3 + SLR 1): the upper root wins.
    loc = _localise(
        [
            _abnormal("reflex-patellar", "left"),
            _abnormal("femoral-nerve-stretch"),
            _abnormal("reflex-achilles", "right"),
            _abnormal("straight-leg-raise", "right"),
        ],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("L4", "left", 0.3137)
    assert loc.candidates == _candidates(
        ("S1", "right", 0.4848),
        ("L3", "left", 0.262),
        ("L5", "right", 0.0606),
        ("L2", "left", 0.0392),
    )  # L4 right (0.0182) is the fifth


def test_evidence_names_the_findings_of_the_root(knowledge: Knowledge) -> None:
    toe = _abnormal("strength-great-toe-extension")
    record = [toe, _abnormal("straight-leg-raise"), _abnormal("reflex-patellar")]
    loc = _localise(record, knowledge)
    assert loc is not None and loc.root == "L5"
    assert [e.reference for e in loc.evidence] == [
        f"Observation/{toe['id']}",
        f"Observation/{record[1]['id']}",
    ]
    assert loc.evidence[0].text == "Great toe extension 4/5 (left), 20 Nov 2026"


def test_weak_evidence_on_both_legs_is_bilateral_too(knowledge: Knowledge) -> None:
    # One reduced medial hamstring reflex on each leg: L5 1 and 1, the smallest score there is.
    loc = _localise(
        [
            _abnormal("reflex-medial-hamstring", "left"),
            _abnormal("reflex-medial-hamstring", "right"),
        ],
        knowledge,
    )
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("L5", "bilateral", 0.3333)


def test_the_fallback_side_is_scored_on_its_own_leg(knowledge: Knowledge) -> None:
    # S1 has only unsided evidence (3 on each leg); the left leg also has L5 1. With the
    # radicular diagnosis on the right, S1 right is scored on the right leg's evidence alone.
    record = [_abnormal("reflex-achilles", None), _abnormal("sensation-dorsum-foot", "left")]
    loc = _localise(record, knowledge, fallback="right")
    assert loc is not None
    assert (loc.root, loc.side, loc.confidence) == ("S1", "right", 0.6)
    assert loc.candidates == _candidates(("S1", "left", 0.45), ("L5", "left", 0.0833))


def test_an_exact_tie_between_the_legs_that_is_not_bilateral(knowledge: Knowledge) -> None:
    # S1 4 on each leg, but the left's includes a crossed SLR, which never makes a root
    # bilateral: 3 / 4 < 0.8. Rules §1.2 name no side for this tie; today Radix answers the
    # right leg. This pins that answer so that changing it is a decision (open question).
    record = [
        _abnormal("reflex-achilles", "left"),
        _abnormal("crossed-straight-leg-raise"),
        _abnormal("reflex-achilles", "right"),
        _abnormal("sensation-lateral-foot", "right"),
    ]
    loc = _localise(record, knowledge)
    assert loc is not None and (loc.root, loc.side) == ("S1", "right")
