"""The card for the patient's disposition (decision-rules.md §3), one per disposition."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from cds_service.cards import guideline, phrase, prose
from cds_service.cards.card import card, create, suggestion
from cds_service.cards.common import (
    CONTRAST_FLAGS,
    conservative_reason,
    localisation_references,
    mri_code,
    mri_suggestion,
    physiotherapy_referral,
    safety_netting,
    specialist_referral,
    topics,
    urgent_mri_suggestion,
)
from cds_service.cards.detail import detail, escape
from cds_service.cards.emergency_card import emergency_card
from cds_service.cards.service_request import (
    MRI_WITH_AND_WITHOUT_CONTRAST,
    MRI_WITHOUT_CONTRAST,
)
from cds_service.cards.summary import summary
from cds_service.cards.types import Card
from cds_service.clinical import Assessment, ClinicalConfig, Evaluation
from cds_service.protocol import HookRequest

Builder = Callable[[Evaluation, HookRequest, ClinicalConfig], Card]


def disposition_card(
    evaluation: Evaluation, request: HookRequest, config: ClinicalConfig
) -> Card | None:
    """The card for the disposition; ``None`` for ``none`` (no card on patient-view)."""
    build = _BUILDERS.get(evaluation.assessment.disposition)
    return build(evaluation, request, config) if build else None


def _urgent(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``warning``: MRI within days; with contrast for malignancy or infection."""
    a = evaluation.assessment
    flags = phrase.flags_of(a, "urgent") or a.red_flags
    code = mri_code(a)
    key = "disposition/urgent-imaging"
    lead = [
        prose.URGENT_LEAD.format(mri=code.display),
        *_urgent_advice({f.id for f in flags}),
        prose.URGENT_ESCALATION,
    ]
    contrast = prose.URGENT_ACTION_CONTRAST if code is MRI_WITH_AND_WITHOUT_CONTRAST else ""
    return card(
        request,
        key,
        summary=summary(phrase.flag_finding(flags), prose.URGENT_ACTION.format(contrast=contrast)),
        indicator="warning",
        topic="urgent-imaging",
        detail=detail(a, config, lead=lead),
        assessment=a,
        suggestions=[urgent_mri_suggestion(evaluation, request, key)],
        links=guideline.links(topics(a, "urgent-imaging")),
    )


def _urgent_advice(ids: set[str]) -> Iterator[str]:
    """What each kind of urgent flag adds to the MRI."""
    if ids & CONTRAST_FLAGS:
        yield prose.URGENT_CONTRAST
    if "fracture" in ids:
        yield prose.URGENT_FRACTURE
    if "upper-motor-neuron" in ids:
        yield prose.URGENT_UPPER_MOTOR_NEURON


def _mri(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``info``: routine MRI for persistent radiculopathy, or after prior lumbar surgery."""
    a = evaluation.assessment
    key = "disposition/mri"
    syndrome = phrase.syndrome(a, config)
    if a.prior_lumbar_surgery:
        code = MRI_WITH_AND_WITHOUT_CONTRAST
        finding = prose.MRI_AFTER_SURGERY_FINDING.format(syndrome=syndrome)
        action, lead = prose.MRI_AFTER_SURGERY_ACTION, prose.MRI_AFTER_SURGERY_LEAD
    else:
        code = MRI_WITHOUT_CONTRAST
        finding = _with_duration(syndrome, a)
        action, lead = prose.MRI_PERSISTENT_ACTION, prose.MRI_PERSISTENT_LEAD
    return card(
        request,
        key,
        summary=summary(finding, action),
        indicator="info",
        topic="mri",
        detail=detail(a, config, lead=[lead]),
        assessment=a,
        suggestions=[
            mri_suggestion(
                request,
                key,
                code,
                "routine",
                prose.ROUTINE_MRI,
                [{"text": syndrome}],
                localisation_references(a),
            )
        ],
        links=guideline.links(topics(a, "mri")),
    )


def _specialist(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``info``: routine spinal / MSK interface referral, reviewing the existing imaging."""
    a = evaluation.assessment
    uk = config.practice_mode == "uk"
    key = "disposition/specialist-review"
    if uk:
        action, label = prose.SPECIALIST_UK_ACTION, prose.SPECIALIST_UK_LABEL
    elif a.recent_lumbar_mri:
        action, label = prose.SPECIALIST_RECENT_MRI_ACTION, prose.SPECIALIST_LABEL
    else:
        action, label = prose.SPECIALIST_ACTION, prose.SPECIALIST_LABEL
    referral = specialist_referral(a, request, config)
    return card(
        request,
        key,
        summary=summary(_with_duration(phrase.syndrome(a, config), a), action),
        indicator="info",
        topic="specialist-review",
        detail=detail(a, config, lead=_specialist_lead(a, config)),
        assessment=a,
        suggestions=[
            suggestion(
                request,
                f"{key}/referral",
                label,
                [create(referral, prose.SPECIALIST_REFERRAL_DESCRIPTION)],
                recommended=True,
            )
        ],
        links=guideline.links([*(["uk-mode"] if uk else []), *topics(a, "specialist-review")]),
    )


def _specialist_lead(assessment: Assessment, config: ClinicalConfig) -> list[str]:
    """The existing MRI to review, and NICE NG59 in UK mode; else routine review alone."""
    lead: list[str] = []
    if assessment.recent_lumbar_mri:
        lead.append(
            prose.SPECIALIST_RECENT_MRI_LEAD.format(
                months=config.prior_mri_months, mri=escape(assessment.recent_lumbar_mri)
            )
        )
    if config.practice_mode == "uk":
        lead.append(prose.SPECIALIST_UK_LEAD)
    return lead or [prose.SPECIALIST_LEAD]


def _physiotherapy(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``info``: physiotherapy, stay active, safety-net; no imaging yet."""
    a = evaluation.assessment
    key = "disposition/physiotherapy"
    lead = prose.PHYSIOTHERAPY_LEAD.format(
        reason=conservative_reason(a, config), weeks=phrase.number(config.persistent_weeks)
    )
    referral = physiotherapy_referral(a, request, config)
    return card(
        request,
        key,
        summary=summary(phrase.syndrome(a, config), prose.PHYSIOTHERAPY_ACTION),
        indicator="info",
        topic="physiotherapy",
        detail=detail(a, config, lead=[lead], advice=safety_netting(config)),
        assessment=a,
        suggestions=[
            suggestion(
                request,
                f"{key}/referral",
                prose.PHYSIOTHERAPY_LABEL,
                [create(referral, prose.PHYSIOTHERAPY_REFERRAL_DESCRIPTION)],
                recommended=True,
            )
        ],
        links=guideline.links(topics(a, "physiotherapy")),
    )


def _with_duration(finding: str, assessment: Assessment) -> str:
    if assessment.symptom_weeks is None:
        return finding
    return f"{finding}, {phrase.weeks(assessment.symptom_weeks)}"


_BUILDERS: dict[str, Builder] = {
    "emergency-referral": emergency_card,
    "urgent-imaging": _urgent,
    "mri": _mri,
    "specialist-review": _specialist,
    "physiotherapy": _physiotherapy,
}
