"""Appropriateness of draft lumbar imaging orders (decision-rules.md §4, first row wins)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.course import Course
from cds_service.clinical.evaluation import (
    Disposition,
    ImagingKind,
    OrderRating,
    Rating,
    RedFlag,
)
from cds_service.clinical.knowledge import Knowledge
from cds_service.fhir_json import humanise, reference

_IMAGING: Mapping[str, ImagingKind] = {
    "lumbar-mri": "lumbar-mri",
    "lumbar-other-imaging": "lumbar-other",
}
_IGNORED_STATUS = frozenset({"entered-in-error", "revoked"})


@dataclass(frozen=True)
class OrderReview:
    ratings: tuple[OrderRating, ...]
    physiotherapy: tuple[str, ...]  # references of physiotherapy referrals in scope
    in_scope: tuple[str, ...]  # references of every order in scope
    #: What a new lumbar MRI order would be rated now (for the MRIs suggestions propose).
    new_mri_rating: Rating = "no-criteria-apply"


def review_orders(
    orders: Sequence[Any],
    knowledge: Knowledge,
    *,
    flags: tuple[RedFlag, ...],
    course: Course,
    disposition: Disposition,
    config: ClinicalConfig,
) -> OrderReview:
    """Rate each lumbar imaging ServiceRequest; list physiotherapy referrals; ignore the rest."""
    ratings: list[OrderRating] = []
    physio: list[str] = []
    scope: list[str] = []
    for order in orders if isinstance(orders, Sequence) else ():
        if not isinstance(order, Mapping):
            continue
        ref = reference(order)
        if ref is None:
            continue
        scope.append(ref)
        if order.get("resourceType") != "ServiceRequest":
            continue
        status = order.get("status")
        if isinstance(status, str) and status in _IGNORED_STATUS:
            continue
        code = order.get("code")
        concepts = knowledge.concepts_of(code if isinstance(code, Mapping) else None)
        kinds = [kind for concept, kind in _IMAGING.items() if concept in concepts]
        if kinds:
            ratings.append(_rate(order, ref, kinds[0], flags, course, disposition, config))
        elif "physiotherapy-referral" in concepts:
            physio.append(ref)
    new_mri, _, _ = _rating("lumbar-mri", flags, course, config)
    return OrderReview(tuple(ratings), tuple(physio), tuple(dict.fromkeys(scope)), new_mri)


def _rate(
    order: Mapping[str, Any],
    reference: str,
    kind: ImagingKind,
    flags: tuple[RedFlag, ...],
    course: Course,
    disposition: Disposition,
    config: ClinicalConfig,
) -> OrderRating:
    rating, rule, reason = _rating(kind, flags, course, config)
    # Rules §4 ties the upgrade to the disposition alone: even a repeat MRI, if the clinician
    # keeps it while an emergency flag stands, must not wait in the routine queue.
    upgrade = (
        disposition == "emergency-referral"
        and kind == "lumbar-mri"
        and order.get("priority") != "stat"
    )
    return OrderRating(reference, dict(order), kind, rating, rule, reason, upgrade)


def _rating(
    kind: ImagingKind, flags: tuple[RedFlag, ...], course: Course, config: ClinicalConfig
) -> tuple[Rating, str, str]:
    if not (course.back_pain or course.radicular or flags):
        return (
            "no-criteria-apply",
            "order-rating/no-criteria",
            "No back pain, radicular syndrome or red flag is recorded.",
        )
    names = ", ".join(humanise(flag.id) for flag in flags)
    if flags and (course.recent_mri is None or any(f.new_since_prior_mri for f in flags)):
        return "appropriate", "order-rating/red-flag", f"Red flag: {names}."
    if kind == "lumbar-mri" and course.recent_mri is not None:
        return (
            "not-appropriate",
            "order-rating/duplicate-mri",
            f"A lumbar MRI was done in the last {config.prior_mri_months} months "
            f"({course.recent_mri.reference}) and nothing new since calls for another.",
        )
    weeks = course.symptom_weeks
    if weeks is not None and weeks >= config.persistent_weeks and course.conservative_care:
        return (
            "appropriate",
            "order-rating/persistent-after-conservative-care",
            f"Back pain for {weeks:.0f} weeks despite conservative care.",
        )
    if course.radicular and course.prior_surgery:
        return (
            "appropriate",
            "order-rating/prior-lumbar-surgery",
            "Radicular symptoms after lumbar surgery.",
        )
    if weeks is None:
        why = "the duration of symptoms is not documented (counts as under 6 weeks)"
    elif weeks < config.persistent_weeks:
        why = f"symptoms for {weeks:.0f} weeks, under {config.persistent_weeks:g}"
    else:
        why = "no conservative care is documented"
    return (
        "not-appropriate",
        "order-rating/conservative-care-first",
        f"No red flag, and {why}: imaging does not change early management.",
    )
