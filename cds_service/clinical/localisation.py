"""Which nerve root (L2–S1) and side the examination points to (decision-rules.md §1.2)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cds_service.clinical.evaluation import Localisation, Root, RootCandidate, Side
from cds_service.clinical.exam import Exam
from cds_service.clinical.finding import Finding, evidence

ROOTS: tuple[Root, ...] = ("L2", "L3", "L4", "L5", "S1")

# Evidence weights per abnormal finding, from reference/clinical.md §3 (root table §3.1, accuracy
# §3.2, weighing §3.3). Scale: 3 strong (reflex asymmetry, key muscle), 1-1.5 dermatomal
# sensation (weaker: overlap, examiner bias), 0.5-1 provocation tests (support a group of roots,
# never separate them). Normal findings subtract nothing: isolated tests are insensitive
# (van der Windt, Cochrane 2010; Tawa 2017).
WEIGHTS: Mapping[str, Mapping[Root, float]] = {
    # ISNCSCI key muscles (L2 hip flexors ... S1 plantar flexors); Harrison's 19e Table 48-1.
    "strength-hip-flexion": {"L2": 3.0, "L3": 1.0},
    # Quadriceps: ISNCSCI L3, Harrison's L4 majority; "L3 or L4" (clinical.md §3.1 overlaps).
    "strength-knee-extension": {"L3": 3.0, "L4": 2.0},
    # Tibialis anterior L4-L5: ISNCSCI L4 vs Harrison's L5, so no preference.
    "strength-ankle-dorsiflexion": {"L4": 2.0, "L5": 2.0},
    # EHL and hip abduction: the best L5 discriminators (Suri 2011: hip abductors LR+ >= 5).
    "strength-great-toe-extension": {"L5": 3.0},
    "strength-hip-abduction": {"L5": 3.0},
    "strength-ankle-inversion": {"L5": 2.0},
    # Peronei: L5 (Harrison's) vs S1 (Orthobullets).
    "strength-ankle-eversion": {"L5": 1.5, "S1": 1.5},
    "strength-ankle-plantarflexion": {"S1": 3.0},
    # Patellar reflex L3-L4, L4 dominant (Suri 2011: LR+ >= 5 for L4).
    "reflex-patellar": {"L3": 2.0, "L4": 3.0},
    # Achilles reflex S1 (Suri 2011: LR+ 7.1 for L5-S1 impingement).
    "reflex-achilles": {"S1": 3.0},
    # Medial hamstring: the only L5 reflex, unreliable (clinical.md §3.3).
    "reflex-medial-hamstring": {"L5": 1.0},
    # ISNCSCI key sensory points; Suri 2011 level-specific LR+ >= 5: anterior thigh L2,
    # medial ankle L4.
    "sensation-anterior-thigh": {"L2": 1.5},
    "sensation-medial-knee": {"L3": 1.0},
    "sensation-medial-ankle": {"L4": 1.5},
    "sensation-dorsum-foot": {"L5": 1.0},
    "sensation-lateral-foot": {"S1": 1.0},
    # SLR: L5/S1 (L4) irritation, sens 0.92 spec 0.28 (Cochrane 2010); crossed SLR spec 0.90.
    "straight-leg-raise": {"L4": 0.5, "L5": 1.0, "S1": 1.0},
    "crossed-straight-leg-raise": {"L5": 1.0, "S1": 1.0},
    # Femoral stretch L2-L4; Suri 2011: FST LR+ >= 5 for L3.
    "femoral-nerve-stretch": {"L2": 1.0, "L3": 1.5, "L4": 1.0},
}
_PROVOCATION = frozenset(
    {"straight-leg-raise", "crossed-straight-leg-raise", "femoral-nerve-stretch"}
)
# Paracentral disc above the root, far-lateral disc at its own level (rules §1.2).
DISC_LEVELS: Mapping[Root, tuple[str, ...]] = {
    "L2": ("L1-L2 paracentral", "L2-L3 far lateral"),
    "L3": ("L2-L3 paracentral", "L3-L4 far lateral"),
    "L4": ("L3-L4 paracentral", "L4-L5 far lateral"),
    "L5": ("L4-L5 paracentral", "L5-S1 far lateral"),
    "S1": ("L5-S1 paracentral",),
}
#: The other side's score, as a share of the best, at which the root is called bilateral.
BILATERAL_SHARE = 0.8
# Confidence = share of the side's evidence x saturation best / (best + this): one weak finding
# alone never reads as certain.
_SATURATION = 2.0
_MAX_CANDIDATES = 4


@dataclass(frozen=True)
class _Vote:
    root: Root
    side: Side | None
    weight: float
    finding: Finding


def localise(exam: Exam, fallback_side: Side | None = None) -> Localisation | None:
    """The most likely root and side, or None when no root can be named or UMN signs stand."""
    if exam.umn_signs():
        return None
    votes = list(_votes(exam))
    legs: tuple[Side, Side] = ("left", "right")
    totals = {
        side: {root: _score(votes, root, side, shared=True) for root in ROOTS} for side in legs
    }
    ranked = sorted(
        ((score, root, side) for side, roots in totals.items() for root, score in roots.items()),
        key=lambda item: (-item[0], ROOTS.index(item[1]), item[2]),
    )
    best_score, root, side = ranked[0]
    if best_score <= 0 or not _has_deficit(votes, root):
        return None
    if any(s == best_score and r != root and sd == side for s, r, sd in ranked[1:]):
        return None  # two roots explain the findings equally well: name neither
    resolved = _side(votes, root, fallback_side)
    if resolved is None:
        return None
    scored_side = side if resolved == "bilateral" else resolved
    confidence = _confidence(totals[scored_side], root)
    chosen = {(root, sd) for sd in (("left", "right") if resolved == "bilateral" else (resolved,))}
    candidates = sorted(
        (
            RootCandidate(r, sd, round(_confidence(totals[sd], r), 4))
            for s, r, sd in ranked
            if s > 0 and (r, sd) not in chosen
        ),
        key=lambda c: (-c.score, ROOTS.index(c.root), c.side),
    )
    used = [
        v.finding
        for v in votes
        if v.root == root and (v.side is None or resolved == "bilateral" or v.side == resolved)
    ]
    return Localisation(
        root=root,
        side=resolved,
        confidence=round(confidence, 4),
        disc_levels=DISC_LEVELS[root],
        candidates=tuple(candidates[:_MAX_CANDIDATES]),
        evidence=tuple(evidence(f) for f in dict.fromkeys(used)),
    )


def _votes(exam: Exam) -> Iterator[_Vote]:
    deficits = [d.finding for d in exam.motor_deficits() if d.finding.concept in WEIGHTS]
    for finding in (*deficits, *exam.reflex_deficits(), *exam.sensory_deficits()):
        yield from _split(finding)
    for concept in _PROVOCATION:
        for finding in dict.fromkeys(exam.positive(concept).values()):
            yield from _split(finding)
    # Foot drop recorded as a finding (not a graded muscle) is ankle dorsiflexion weakness.
    for fact in exam.foot_drop():
        for root, weight in WEIGHTS["strength-ankle-dorsiflexion"].items():
            yield _Vote(root, fact.side if fact.side != "bilateral" else None, weight, fact)


def _split(finding: Finding) -> Iterator[_Vote]:
    side = None if finding.side == "bilateral" else finding.side
    for root, weight in WEIGHTS.get(finding.concept, {}).items():
        if finding.side == "bilateral":
            yield _Vote(root, "left", weight, finding)
            yield _Vote(root, "right", weight, finding)
        else:
            yield _Vote(root, side, weight, finding)


def _score(votes: list[_Vote], root: Root, side: Side, *, shared: bool) -> float:
    return sum(
        v.weight
        for v in votes
        if v.root == root and (v.side == side or (shared and v.side is None))
    )


def _has_deficit(votes: list[_Vote], root: Root) -> bool:
    return any(v.root == root and v.finding.concept not in _PROVOCATION for v in votes)


def _side(votes: list[_Vote], root: Root, fallback: Side | None) -> Side | None:
    left = _score(votes, root, "left", shared=False)
    right = _score(votes, root, "right", shared=False)
    if left == right == 0:
        return fallback
    # A crossed SLR speaks for the leg it is recorded on but never makes a root bilateral by
    # itself (rules §1.2), so the bilateral test weighs the other findings only.
    uncrossed = [v for v in votes if v.finding.concept != "crossed-straight-leg-raise"]
    both = sorted(_score(uncrossed, root, side, shared=False) for side in ("left", "right"))
    if both[0] > 0 and both[0] >= BILATERAL_SHARE * both[1]:
        return "bilateral"
    return "left" if left > right else "right"


def _confidence(scores: Mapping[Root, float], root: Root) -> float:
    total = sum(scores.values())
    best = scores[root]
    if total <= 0 or best <= 0:
        return 0.0
    return (best / total) * (best / (best + _SATURATION))
