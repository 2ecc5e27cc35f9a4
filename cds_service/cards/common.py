"""What the disposition cards and the order cards share: the orders their suggestions propose,
why conservative care comes first, and the safety-netting said with it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cds_service.cards import phrase, prose
from cds_service.cards.card import create, suggestion
from cds_service.cards.prose import OrderWording
from cds_service.cards.service_request import (
    MRI_WITH_AND_WITHOUT_CONTRAST,
    MRI_WITHOUT_CONTRAST,
    PHYSIOTHERAPY_REFERRAL,
    SPINAL_SURGERY_REFERRAL,
    OrderCode,
    Priority,
    service_request,
)
from cds_service.cards.types import Resource, Suggestion
from cds_service.clinical import Assessment, ClinicalConfig, Evaluation, RedFlag
from cds_service.protocol import HookRequest

#: Red flags for which MRI is done without and with contrast (ACR variant 7).
CONTRAST_FLAGS = frozenset({"malignancy", "infection"})

#: A ServiceRequest.reasonCode: FHIR CodeableConcepts, here text only.
ReasonCode = list[dict[str, Any]]


def mri_code(assessment: Assessment) -> OrderCode:
    """Without contrast, unless a red flag calls for contrast."""
    if any(f.id in CONTRAST_FLAGS for f in assessment.red_flags):
        return MRI_WITH_AND_WITHOUT_CONTRAST
    return MRI_WITHOUT_CONTRAST


def flag_reason(flags: Iterable[RedFlag]) -> ReasonCode:
    """The red flags, named, as the reason of the order they call for."""
    return [{"text": phrase.joined(phrase.flag(f.id) for f in flags)}]


def flag_references(flags: Iterable[RedFlag]) -> list[str]:
    return [e.reference for f in flags for e in f.evidence]


def localisation_references(assessment: Assessment) -> list[str]:
    loc = assessment.localisation
    return [e.reference for e in loc.evidence] if loc is not None else []


def topics(assessment: Assessment, disposition: str) -> list[str]:
    """What a disposition card's guideline links cite: its red flags, itself, its rules."""
    return [*(f.id for f in assessment.red_flags), disposition, *assessment.rules]


def mri_suggestion(
    request: HookRequest,
    key: str,
    code: OrderCode,
    priority: Priority,
    wording: OrderWording,
    reason_code: ReasonCode,
    reason_references: Iterable[str],
) -> Suggestion:
    """Create an MRI (recommended); its uuid is the card's ``key`` plus ``/mri``."""
    mri = service_request(
        code,
        request,
        priority=priority,
        text=wording.text.format(mri=code.display),
        reason_code=reason_code,
        reason_references=reason_references,
    )
    return suggestion(
        request,
        f"{key}/mri",
        wording.label.format(mri=code.display),
        [create(mri, wording.description.format(mri=code.display))],
        recommended=True,
    )


def urgent_mri_suggestion(evaluation: Evaluation, request: HookRequest, key: str) -> Suggestion:
    """Create an MRI (priority ``urgent``) for the urgent red flags of ``evaluation``."""
    a = evaluation.assessment
    flags = phrase.flags_of(a, "urgent") or a.red_flags
    return mri_suggestion(
        request,
        key,
        mri_code(a),
        "urgent",
        prose.URGENT_MRI,
        flag_reason(flags),
        flag_references(flags),
    )


def specialist_referral(
    assessment: Assessment,
    request: HookRequest,
    config: ClinicalConfig,
    reason_code: ReasonCode | None = None,
) -> Resource:
    """A routine referral to the spinal service, pointing at the existing imaging if any."""
    if config.practice_mode == "uk":
        text = prose.SPECIALIST_REFERRAL_UK_TEXT
    elif assessment.recent_lumbar_mri:
        text = prose.SPECIALIST_REFERRAL_RECENT_MRI_TEXT
    else:
        text = prose.SPECIALIST_REFERRAL_TEXT
    return service_request(
        SPINAL_SURGERY_REFERRAL,
        request,
        priority="routine",
        text=text,
        reason_code=reason_code or [{"text": phrase.syndrome(assessment, config)}],
        reason_references=localisation_references(assessment),
        supporting=[assessment.recent_lumbar_mri] if assessment.recent_lumbar_mri else (),
    )


def physiotherapy_referral(
    assessment: Assessment,
    request: HookRequest,
    config: ClinicalConfig,
    reason_code: ReasonCode | None = None,
) -> Resource:
    """A routine physiotherapy referral; ``reason_code`` defaults to the radicular syndrome."""
    return service_request(
        PHYSIOTHERAPY_REFERRAL,
        request,
        priority="routine",
        reason_code=reason_code or [{"text": phrase.syndrome(assessment, config)}],
        reason_references=localisation_references(assessment),
    )


def conservative_reason(assessment: Assessment, config: ClinicalConfig) -> str:
    """Why conservative care comes first: short duration, unknown onset, or no care yet."""
    if assessment.symptom_weeks is None:
        return prose.CONSERVATIVE_ONSET_UNKNOWN.format(weeks=phrase.number(config.persistent_weeks))
    duration = phrase.weeks(assessment.symptom_weeks)
    if (
        assessment.symptom_weeks >= config.persistent_weeks
        and assessment.conservative_care_weeks is None
    ):
        return prose.CONSERVATIVE_NO_CARE.format(duration=duration)
    return prose.CONSERVATIVE_DURATION.format(duration=duration)


def safety_netting(config: ClinicalConfig) -> list[str]:
    """Cauda-equina safety-netting and review advice for conservative care (NICE CKS)."""
    weeks = phrase.number(config.persistent_weeks)
    return [prose.SAFETY_NETTING, prose.REVIEW_ADVICE.format(weeks=weeks)]
