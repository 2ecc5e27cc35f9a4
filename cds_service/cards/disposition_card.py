"""The card for the patient's disposition (decision-rules.md §3), one per disposition."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cds_service.cards import guideline, override_reason, phrase
from cds_service.cards.card import card, create, suggestion, update
from cds_service.cards.detail import detail, escape
from cds_service.cards.service_request import (
    MRI_WITH_AND_WITHOUT_CONTRAST,
    MRI_WITHOUT_CONTRAST,
    PHYSIOTHERAPY_REFERRAL,
    SPINAL_SURGERY_REFERRAL,
    OrderCode,
    order_name,
    service_request,
    with_priority,
)
from cds_service.cards.summary import summary
from cds_service.cards.types import Card, Resource, Suggestion
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Assessment, Evaluation, RedFlag
from cds_service.protocol.hook_request import HookRequest

#: Red flags for which MRI is done without and with contrast (ACR variant 7).
_CONTRAST_FLAGS = frozenset({"malignancy", "infection"})
_MOTOR_FLAGS = frozenset(
    {"severe-motor-deficit", "progressive-motor-deficit", "multilevel-motor-deficit"}
)


def disposition_card(
    evaluation: Evaluation, request: HookRequest, config: ClinicalConfig
) -> Card | None:
    """The card for the disposition; ``None`` for ``none`` (no card on patient-view)."""
    build = _BUILDERS.get(evaluation.assessment.disposition)
    return build(evaluation, request, config) if build else None


def emergency_card(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``critical``: same-day spinal surgical review and emergency MRI, both as stat orders.

    On the order hooks a draft lumbar MRI in scope is upgraded to stat instead of ordering a
    second MRI beside it.
    """
    a = evaluation.assessment
    flags = phrase.flags_of(a, "emergency") or a.red_flags
    ces = any(f.id == "cauda-equina" for f in a.red_flags)
    key = "disposition/emergency-referral"
    references = _references(flags)
    reason = [{"text": phrase.joined(phrase.flag(f.id) for f in flags)}]

    referral = service_request(
        SPINAL_SURGERY_REFERRAL,
        request,
        priority="stat",
        text="Same-day referral to the on-call spinal surgical team",
        reason_code=reason,
        reason_references=references,
    )
    suggestions = [
        suggestion(
            request,
            f"{key}/spinal-referral",
            "Refer today to on-call spinal surgery (stat)",
            [create(referral, "Create a stat referral to the on-call spinal surgical team")],
            recommended=True,
        )
    ]
    lead = [
        "**Same-day review by the on-call spinal surgical team and emergency MRI of the"
        " lumbosacral spine.**"
    ]
    if ces:
        lead.append(
            "Suspected cauda equina syndrome: refer to hospital now; MRI as soon as possible and"
            f" within {config.ces_mri_hours} hours of the request (GIRFT pathway). Suspected, not"
            " diagnosed: the MRI decides. A bladder scan must not delay the MRI; a post-void"
            f" residual under {phrase.number(config.pvr_ml)} mL does not exclude it."
        )
    if any(f.id in _MOTOR_FLAGS for f in flags):
        lead.append(
            "Severe, progressive or multilevel weakness: discuss with the on-call spinal team"
            " today (ACP 2011: immediate MRI)."
        )
    if any(f.id == "cord-compression" for f in flags):
        lead.append("Possible cord compression: agree the level to image with the spinal team.")

    code = _mri_code(a)
    drafts = [r for r in evaluation.order_ratings if r.imaging == "lumbar-mri"]
    for draft in drafts:
        name = escape(order_name(draft.resource, "Lumbar MRI"))
        if not draft.upgrade_to_stat:
            if draft.resource.get("priority") == "stat":
                lead.append(f"The MRI being ordered ({name}) is already stat.")
            continue
        if draft.rating == "not-appropriate":
            lead.append(
                f"The MRI being ordered ({name}) repeats one done within the last"
                f" {config.prior_mri_months} months and no evidence of the flag is newer:"
                " agree with the spinal team whether to repeat it; if it is kept, make it stat."
            )
        # The full resource replaces the draft; ``render`` adds the draft's own rating to it.
        resource = with_priority(draft.resource, "stat")
        suggestions.append(
            suggestion(
                request,
                f"{key}/upgrade/{draft.reference}",
                "Make the MRI being ordered stat",
                [update(resource, f"Change {draft.reference} to priority stat")],
                recommended=True,
            )
        )
        if draft.rating != "not-appropriate":
            lead.append(f"The MRI being ordered ({name}) is not stat: change it to stat.")
    if not drafts:
        mri = service_request(
            code,
            request,
            priority="stat",
            text=f"Emergency {code.display}",
            reason_code=reason,
            reason_references=references,
        )
        suggestions.append(
            suggestion(
                request,
                f"{key}/mri",
                f"Order emergency {code.display} (stat)",
                [create(mri, f"Create a stat order: {code.display}")],
                recommended=True,
            )
        )
    if code is MRI_WITH_AND_WITHOUT_CONTRAST:
        lead.append(
            "With malignancy or infection risk: MRI without and with contrast (ACR variant 7)."
        )

    action = "same-day spinal surgical review and emergency MRI"
    if ces:
        action += f" within {config.ces_mri_hours} h"
    return card(
        request,
        key,
        summary=summary(phrase.flag_finding(flags), action),
        indicator="critical",
        topic="emergency-referral",
        detail=detail(a, config, lead=lead),
        assessment=a,
        suggestions=suggestions,
        selection_behavior="any",
        override_reasons=override_reason.codings(override_reason.EMERGENCY),
        links=guideline.links(_topics(a, "emergency-referral")),
    )


def urgent_mri_suggestion(evaluation: Evaluation, request: HookRequest, key: str) -> Suggestion:
    """Create an MRI (priority ``urgent``) for the urgent red flags of ``evaluation``."""
    a = evaluation.assessment
    flags = phrase.flags_of(a, "urgent") or a.red_flags
    code = _mri_code(a)
    mri = service_request(
        code,
        request,
        priority="urgent",
        text=f"Urgent {code.display}",
        reason_code=[{"text": phrase.joined(phrase.flag(f.id) for f in flags)}],
        reason_references=_references(flags),
    )
    return suggestion(
        request,
        f"{key}/mri",
        f"Order {code.display} (urgent)",
        [create(mri, f"Create an urgent order: {code.display}")],
        recommended=True,
    )


def _urgent(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``warning``: MRI within days; with contrast for malignancy or infection."""
    a = evaluation.assessment
    flags = phrase.flags_of(a, "urgent") or a.red_flags
    ids = {f.id for f in flags}
    code = _mri_code(a)
    key = "disposition/urgent-imaging"
    lead = [f"**{code.display}, urgently (within days).**"]
    if ids & _CONTRAST_FLAGS:
        lead.append(
            "Cancer history or infection risk: MRI without and with contrast (ACR variant 7;"
            " ACP 2011 immediate imaging)."
        )
    if "fracture" in ids:
        lead.append(
            "Fracture risk (ACR variant 6): radiography or CT are also usually appropriate."
        )
    if "upper-motor-neuron" in ids:
        lead.append(
            "Upper motor neuron signs point above the lumbar roots: consider neurological review"
            " and imaging of the cord or brain."
        )
    lead.append("New weakness, or bladder, bowel or saddle symptoms, make this an emergency.")
    contrast = "with and without contrast " if code is MRI_WITH_AND_WITHOUT_CONTRAST else ""
    return card(
        request,
        key,
        summary=summary(phrase.flag_finding(flags), f"MRI lumbar spine {contrast}within days"),
        indicator="warning",
        topic="urgent-imaging",
        detail=detail(a, config, lead=lead),
        assessment=a,
        suggestions=[urgent_mri_suggestion(evaluation, request, key)],
        links=guideline.links(_topics(a, "urgent-imaging")),
    )


def _mri(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``info``: routine MRI for persistent radiculopathy, or after prior lumbar surgery."""
    a = evaluation.assessment
    key = "disposition/mri"
    if a.prior_lumbar_surgery:
        code = MRI_WITH_AND_WITHOUT_CONTRAST
        finding = f"{phrase.syndrome(a, config)} after lumbar surgery"
        action = "routine MRI lumbar spine with and without contrast"
        lead = [
            "**Radicular symptoms after prior lumbar surgery: MRI lumbar spine without and"
            " with contrast** (ACR variant 5)."
        ]
    else:
        code = MRI_WITHOUT_CONTRAST
        finding = _with_duration(phrase.syndrome(a, config), a)
        action = "MRI lumbar spine without contrast if surgery or injection is considered"
        lead = [
            "**Persistent radicular symptoms despite conservative care: MRI lumbar spine"
            " without contrast** (ACR variant 3), if the patient would consider surgery or an"
            " epidural steroid injection (ACP/APS 2007)."
        ]
    mri = service_request(
        code,
        request,
        priority="routine",
        text=code.display,
        reason_code=[{"text": phrase.syndrome(a, config)}],
        reason_references=_localisation_references(a),
    )
    return card(
        request,
        key,
        summary=summary(finding, action),
        indicator="info",
        topic="mri",
        detail=detail(a, config, lead=lead),
        assessment=a,
        suggestions=[
            suggestion(
                request,
                f"{key}/mri",
                f"Order {code.display} (routine)",
                [create(mri, f"Create a routine order: {code.display}")],
                recommended=True,
            )
        ],
        links=guideline.links(_topics(a, "mri")),
    )


def specialist_referral(
    assessment: Assessment,
    request: HookRequest,
    config: ClinicalConfig,
    reason_code: list[dict[str, Any]] | None = None,
) -> Resource:
    """A routine referral to the spinal service, pointing at the existing imaging if any."""
    uk = config.practice_mode == "uk"
    text = (
        "Routine referral to spinal surgery / MSK interface service"
        if uk
        else "Routine referral to spinal surgery: review of existing lumbar MRI"
        if assessment.recent_lumbar_mri
        else "Routine referral to spinal surgery"
    )
    return service_request(
        SPINAL_SURGERY_REFERRAL,
        request,
        priority="routine",
        text=text,
        reason_code=reason_code or [{"text": phrase.syndrome(assessment, config)}],
        reason_references=_localisation_references(assessment),
        supporting=[assessment.recent_lumbar_mri] if assessment.recent_lumbar_mri else (),
    )


def _specialist(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``info``: routine spinal / MSK interface referral, reviewing the existing imaging."""
    a = evaluation.assessment
    uk = config.practice_mode == "uk"
    key = "disposition/specialist-review"
    lead: list[str] = []
    if a.recent_lumbar_mri:
        lead.append(
            f"**A lumbar MRI was done within the last {config.prior_mri_months} months**"
            f" ({escape(a.recent_lumbar_mri)}): review it with a spinal specialist rather than"
            " repeat it; repeat imaging needs a change in clinical status (ACP 2011)."
        )
    if uk:
        lead.append(
            "**NICE NG59**: do not routinely offer imaging in a non-specialist setting (1.1.4);"
            " refer to a spinal or MSK interface service, which considers imaging only if the"
            " result is likely to change management (1.1.6). Explain that imaging may not be"
            " needed (1.1.5)."
        )
    if not lead:
        lead.append(
            "**Persistent radicular symptoms despite conservative care: routine spinal review.**"
        )
    action = (
        "routine referral to spinal / MSK interface service (NICE NG59)"
        if uk
        else "routine spinal specialist review of the existing MRI"
        if a.recent_lumbar_mri
        else "routine spinal specialist review"
    )
    referral = specialist_referral(a, request, config)
    topics = ["uk-mode"] if uk else []
    return card(
        request,
        key,
        summary=summary(_with_duration(phrase.syndrome(a, config), a), action),
        indicator="info",
        topic="specialist-review",
        detail=detail(a, config, lead=lead),
        assessment=a,
        suggestions=[
            suggestion(
                request,
                f"{key}/referral",
                "Refer to spinal / MSK interface service (routine)"
                if uk
                else "Refer to spinal specialist (routine)",
                [create(referral, "Create a routine referral to the spinal service")],
                recommended=True,
            )
        ],
        links=guideline.links([*topics, *_topics(a, "specialist-review")]),
    )


def physiotherapy_referral(
    assessment: Assessment,
    request: HookRequest,
    config: ClinicalConfig,
    reason_code: list[dict[str, Any]] | None = None,
) -> Resource:
    """A routine physiotherapy referral; ``reason_code`` defaults to the radicular syndrome."""
    return service_request(
        PHYSIOTHERAPY_REFERRAL,
        request,
        priority="routine",
        reason_code=reason_code or [{"text": phrase.syndrome(assessment, config)}],
        reason_references=_localisation_references(assessment),
    )


def safety_netting(config: ClinicalConfig) -> list[str]:
    """Cauda-equina safety-netting and review advice for conservative care (NICE CKS)."""
    return [
        "**Safety-netting**: tell the patient to go to an emergency department at once with"
        " difficulty passing urine, loss of bladder or bowel control, numbness around the back"
        " passage or genitals, new sexual problems, or numbness or weakness in both legs.",
        "Review if weakness worsens, or if symptoms persist after"
        f" {phrase.number(config.persistent_weeks)} weeks of conservative care.",
    ]


def _physiotherapy(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``info``: physiotherapy, stay active, safety-net; no imaging yet."""
    a = evaluation.assessment
    key = "disposition/physiotherapy"
    limit = phrase.number(config.persistent_weeks)
    lead = [
        "**Physiotherapy referral and advice to stay active; no imaging yet**"
        f" ({conservative_reason(a, config)}; no red flags). Imaging is not indicated before"
        f" {limit} weeks of conservative care without red flags (ACR variants 1-2; NICE NG59"
        " 1.1.4)."
    ]
    referral = physiotherapy_referral(a, request, config)
    return card(
        request,
        key,
        summary=summary(phrase.syndrome(a, config), "physiotherapy referral, no imaging yet"),
        indicator="info",
        topic="physiotherapy",
        detail=detail(a, config, lead=lead, advice=safety_netting(config)),
        assessment=a,
        suggestions=[
            suggestion(
                request,
                f"{key}/referral",
                "Refer to physiotherapy",
                [create(referral, "Create a routine referral to physiotherapy")],
                recommended=True,
            )
        ],
        links=guideline.links(_topics(a, "physiotherapy")),
    )


def conservative_reason(assessment: Assessment, config: ClinicalConfig) -> str:
    """Why conservative care comes first: short duration, unknown onset, or no care yet."""
    limit = phrase.number(config.persistent_weeks)
    if assessment.symptom_weeks is None:
        return f"onset not documented, counted as under {limit} weeks"
    if assessment.symptom_weeks < config.persistent_weeks:
        return f"{phrase.weeks(assessment.symptom_weeks)} of symptoms"
    if assessment.conservative_care_weeks is None:
        return f"{phrase.weeks(assessment.symptom_weeks)}, no conservative care documented"
    return f"{phrase.weeks(assessment.symptom_weeks)} of symptoms"


def _with_duration(finding: str, assessment: Assessment) -> str:
    if assessment.symptom_weeks is None:
        return finding
    return f"{finding}, {phrase.weeks(assessment.symptom_weeks)}"


def _mri_code(assessment: Assessment) -> OrderCode:
    if any(f.id in _CONTRAST_FLAGS for f in assessment.red_flags):
        return MRI_WITH_AND_WITHOUT_CONTRAST
    return MRI_WITHOUT_CONTRAST


def _references(flags: Iterable[RedFlag]) -> list[str]:
    return [e.reference for f in flags for e in f.evidence]


def _localisation_references(assessment: Assessment) -> list[str]:
    loc = assessment.localisation
    return [e.reference for e in loc.evidence] if loc is not None else []


def _topics(assessment: Assessment, disposition: str) -> list[str]:
    return [*(f.id for f in assessment.red_flags), disposition, *assessment.rules]


_BUILDERS: dict[str, Callable[[Evaluation, HookRequest, ClinicalConfig], Card]] = {
    "emergency-referral": emergency_card,
    "urgent-imaging": _urgent,
    "mri": _mri,
    "specialist-review": _specialist,
    "physiotherapy": _physiotherapy,
}
