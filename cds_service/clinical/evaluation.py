"""What the clinical engine concludes: the assessment, the order ratings, and why.

This is the contract between ``clinical`` (which fills it) and ``cards`` (which renders it).
Everything is plain, immutable data; ``Assessment.to_extension`` gives the public
``org.radix-cds.assessment`` JSON of decision-rules.md §5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Tier = Literal["emergency", "urgent"]
Disposition = Literal[
    "emergency-referral", "urgent-imaging", "mri", "specialist-review", "physiotherapy", "none"
]
Rating = Literal["appropriate", "not-appropriate", "no-criteria-apply"]
Side = Literal["left", "right", "bilateral"]
Root = Literal["L2", "L3", "L4", "L5", "S1"]
ImagingKind = Literal["lumbar-mri", "lumbar-other"]

#: Severity order of dispositions, most severe first (vignettes README: "the most severe counts").
DISPOSITION_ORDER: tuple[Disposition, ...] = (
    "emergency-referral",
    "urgent-imaging",
    "specialist-review",
    "mri",
    "physiotherapy",
    "none",
)


@dataclass(frozen=True)
class Evidence:
    """One fact a conclusion rests on: the resource it came from and a clinician-readable line."""

    reference: str  # "Observation/o1"
    text: str  # "Great toe extension 4/5 (left), 20 Nov 2026"
    #: For a finding read from a clinical note: the sentence it came from (≤ 160 characters).
    quote: str | None = None


@dataclass(frozen=True)
class RedFlag:
    """A red flag that stands, with the rule(s) that raised it and the facts behind them."""

    id: str  # "cauda-equina"
    tier: Tier
    rules: tuple[str, ...]  # ("cauda-equina/urinary-retention",)
    evidence: tuple[Evidence, ...]
    #: True when some evidence is dated after the most recent lumbar MRI, or undated (rules §1.8).
    new_since_prior_mri: bool = True


@dataclass(frozen=True)
class RootCandidate:
    root: Root
    side: Side
    score: float  # in [0, 1]


@dataclass(frozen=True)
class Localisation:
    root: Root
    side: Side
    confidence: float  # in [0, 1]
    disc_levels: tuple[str, ...]  # ("L4-L5 paracentral", "L5-S1 far lateral")
    candidates: tuple[RootCandidate, ...]  # runner-ups, best first
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class CesScreen:
    """Cauda-equina screening items: documented present, documented absent, or unknown."""

    present: tuple[str, ...]  # item ids, e.g. "saddle-anaesthesia"
    absent: tuple[str, ...]
    unknown: tuple[str, ...]

    @property
    def documented(self) -> tuple[str, ...]:
        """Present or absent: the field integration teams read before the split (kept)."""
        return (*self.present, *self.absent)


@dataclass(frozen=True)
class Assessment:
    disposition: Disposition
    red_flags: tuple[RedFlag, ...]
    localisation: Localisation | None
    symptom_weeks: float | None  # None: no onset documented
    conservative_care_weeks: float | None  # None: no conservative care documented
    ces_screen: CesScreen
    differentials: tuple[str, ...]  # "peripheral-arterial-disease", ...
    rules: tuple[str, ...]  # every rule id that fired, red flags and disposition alike
    knowledge_version: str
    radicular: bool = False
    back_pain: bool = False
    #: Weak flags mentioned in the detail, changing no tier: "age-over-50", "weight-loss".
    weak_flags: tuple[str, ...] = ()
    #: Findings seen but deliberately not counted, e.g. long-standing incontinence.
    not_counted: tuple[Evidence, ...] = ()
    #: Reference of the most recent lumbar MRI within the configured window, if any.
    recent_lumbar_mri: str | None = None
    prior_lumbar_surgery: bool = False
    age_years: int | None = None
    #: Prefetch keys that could be had neither from prefetch nor from the FHIR server.
    unavailable_data: tuple[str, ...] = ()
    #: What the card says about the clinical notes: read, passed over, left out, not in time.
    note_remarks: tuple[str, ...] = ()

    @property
    def tier(self) -> Tier | None:
        tiers = {flag.tier for flag in self.red_flags}
        if "emergency" in tiers:
            return "emergency"
        return "urgent" if "urgent" in tiers else None

    def to_extension(self) -> dict[str, Any]:
        """The ``org.radix-cds.assessment`` object: unknown values omitted, never ``null``."""
        out: dict[str, Any] = {"disposition": self.disposition}
        if self.red_flags:
            out["redFlags"] = [
                _compact(
                    {
                        "id": flag.id,
                        "tier": flag.tier,
                        "evidence": _references(flag.evidence),
                        "rules": list(flag.rules),
                    }
                )
                for flag in self.red_flags
            ]
        if self.localisation is not None:
            loc = self.localisation
            out["localisation"] = _compact(
                {
                    "root": loc.root,
                    "side": loc.side,
                    "confidence": round(loc.confidence, 2),
                    "discLevels": list(loc.disc_levels),
                    "candidates": [
                        {"root": c.root, "side": c.side, "score": round(c.score, 2)}
                        for c in loc.candidates
                    ],
                    "evidence": _references(loc.evidence),
                }
            )
        if self.symptom_weeks is not None:
            out["symptomWeeks"] = round(self.symptom_weeks, 1)
        if self.conservative_care_weeks is not None:
            out["conservativeCareWeeks"] = round(self.conservative_care_weeks, 1)
        ces = _compact(
            {
                "present": list(self.ces_screen.present),
                "absent": list(self.ces_screen.absent),
                "unknown": list(self.ces_screen.unknown),
                "documented": list(self.ces_screen.documented),
            }
        )
        if ces:
            out["cesScreen"] = ces
        if self.differentials:
            out["differentials"] = list(self.differentials)
        if self.rules:
            out["rules"] = list(self.rules)
        out["knowledgeVersion"] = self.knowledge_version
        return out


@dataclass(frozen=True)
class OrderRating:
    """The appropriateness of one draft lumbar imaging order (decision-rules.md §4)."""

    reference: str  # "ServiceRequest/draft1"
    resource: dict[str, Any]  # the draft order exactly as the EHR sent it
    imaging: ImagingKind
    rating: Rating
    rule: str  # e.g. "order-rating/under-6-weeks"
    reason: str  # one clinician-readable sentence: why this rating
    #: True when the disposition is emergency-referral and the order's priority is not stat.
    upgrade_to_stat: bool = False


@dataclass(frozen=True)
class Evaluation:
    """Everything the cards stage needs for one hook call."""

    assessment: Assessment
    order_ratings: tuple[OrderRating, ...] = ()
    #: Physiotherapy referrals among the orders in scope (references), whatever the flags.
    physiotherapy_orders: tuple[str, ...] = ()
    #: References of the orders in scope (selected on order-select; all on order-sign).
    orders_in_scope: tuple[str, ...] = field(default=())
    #: The rating a new lumbar MRI order would get now (rules §4): the MRIs that suggestions
    #: propose are pre-rated with it, as the Argonaut PAMA guide asks of alternative orders.
    new_mri_rating: Rating = "no-criteria-apply"


def _references(evidence: tuple[Evidence, ...]) -> list[str]:
    return list(dict.fromkeys(item.reference for item in evidence))


def _compact(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop keys whose value is None or empty: CDS Hooks forbids null and empty optionals."""
    return {k: v for k, v in obj.items() if v is not None and v != [] and v != {} and v != ""}
