"""What to do next: the first row of decision-rules.md §3 that matches wins."""

from __future__ import annotations

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.course import Course
from cds_service.clinical.evaluation import Disposition, RedFlag


def dispose(
    flags: tuple[RedFlag, ...], course: Course, config: ClinicalConfig
) -> tuple[Disposition, str]:
    """The disposition and the id of the rule that chose it."""
    tiers = {flag.tier for flag in flags}
    if "emergency" in tiers:
        return "emergency-referral", "disposition/emergency-red-flag"
    if "urgent" in tiers:
        return "urgent-imaging", "disposition/urgent-red-flag"
    if not course.radicular:
        return "none", "disposition/none"
    # Unknown duration counts as under 6 weeks for every rule (rules §1.3).
    persistent = (
        course.symptom_weeks is not None and course.symptom_weeks >= config.persistent_weeks
    )
    if (persistent and course.conservative_care) or course.prior_surgery:
        if course.recent_mri is not None:
            return "specialist-review", "disposition/specialist-review-recent-mri"
        if config.practice_mode == "uk":
            return "specialist-review", "disposition/specialist-review-uk"
        if persistent and course.conservative_care:
            return "mri", "disposition/mri-persistent-after-care"
        return "mri", "disposition/mri-prior-surgery"
    if course.symptom_weeks is None:
        return "physiotherapy", "disposition/physiotherapy-duration-unknown"
    if not persistent:
        return "physiotherapy", "disposition/physiotherapy-under-6-weeks"
    return "physiotherapy", "disposition/physiotherapy-no-conservative-care"
