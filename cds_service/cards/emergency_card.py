"""The emergency referral card (decision-rules.md §3): the patient-view disposition card, and
the first card on the order hooks while an emergency flag stands.

On the order hooks a draft lumbar MRI in scope is upgraded to stat instead of ordering a
second MRI beside it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from cds_service.cards import guideline, override_reason, phrase, prose
from cds_service.cards.card import card, create, suggestion, update
from cds_service.cards.common import (
    flag_reason,
    flag_references,
    mri_code,
    mri_suggestion,
    topics,
)
from cds_service.cards.detail import detail, escape
from cds_service.cards.service_request import (
    MRI_WITH_AND_WITHOUT_CONTRAST,
    SPINAL_SURGERY_REFERRAL,
    OrderCode,
    order_name,
    service_request,
    with_priority,
)
from cds_service.cards.summary import summary
from cds_service.cards.types import Card, Suggestion
from cds_service.clinical import ClinicalConfig, Evaluation, OrderRating, RedFlag
from cds_service.protocol import HookRequest

_KEY = "disposition/emergency-referral"
_MOTOR_FLAGS = frozenset(
    {"severe-motor-deficit", "progressive-motor-deficit", "multilevel-motor-deficit"}
)


def emergency_card(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> Card:
    """``critical``: same-day spinal surgical review and emergency MRI, both as stat orders."""
    a = evaluation.assessment
    flags = phrase.flags_of(a, "emergency") or a.red_flags
    # Cauda equina among all the flags, as the assessment has them: it sets the MRI deadline.
    ces = any(f.id == "cauda-equina" for f in a.red_flags)
    code = mri_code(a)
    drafts = [r for r in evaluation.order_ratings if r.imaging == "lumbar-mri"]
    lead = [
        prose.EMERGENCY_LEAD,
        *_flag_advice(flags, ces, config),
        *_draft_notes(drafts, config),
        *([prose.EMERGENCY_CONTRAST] if code is MRI_WITH_AND_WITHOUT_CONTRAST else []),
    ]
    action = prose.EMERGENCY_ACTION
    if ces:
        action += prose.EMERGENCY_ACTION_CES.format(hours=config.ces_mri_hours)
    return card(
        request,
        _KEY,
        summary=summary(phrase.flag_finding(flags), action),
        indicator="critical",
        topic="emergency-referral",
        detail=detail(a, config, lead=lead),
        assessment=a,
        suggestions=_suggestions(flags, drafts, code, request),
        selection_behavior="any",
        override_reasons=override_reason.codings(override_reason.EMERGENCY),
        links=guideline.links(topics(a, "emergency-referral")),
    )


def _flag_advice(flags: Sequence[RedFlag], ces: bool, config: ClinicalConfig) -> Iterator[str]:
    """What each kind of emergency flag asks for beyond the referral and the MRI."""
    ids = {f.id for f in flags}
    if ces:
        yield prose.EMERGENCY_CES.format(
            hours=config.ces_mri_hours, pvr_ml=phrase.number(config.pvr_ml)
        )
    if ids & _MOTOR_FLAGS:
        yield prose.EMERGENCY_MOTOR
    if "cord-compression" in ids:
        yield prose.EMERGENCY_CORD


def _draft_notes(drafts: Sequence[OrderRating], config: ClinicalConfig) -> Iterator[str]:
    """One note per lumbar MRI being ordered: already stat, not stat, or a repeat."""
    for draft in drafts:
        name = escape(order_name(draft.resource, "Lumbar MRI"))
        if not draft.upgrade_to_stat:
            if draft.resource.get("priority") == "stat":
                yield prose.DRAFT_MRI_ALREADY_STAT.format(name=name)
        elif draft.rating == "not-appropriate":
            yield prose.DRAFT_MRI_REPEATS.format(name=name, months=config.prior_mri_months)
        else:
            yield prose.DRAFT_MRI_NOT_STAT.format(name=name)


def _suggestions(
    flags: Sequence[RedFlag],
    drafts: Sequence[OrderRating],
    code: OrderCode,
    request: HookRequest,
) -> list[Suggestion]:
    """The stat referral; then each MRI being ordered made stat, or else a new stat MRI."""
    if drafts:
        mris = [_upgrade(draft, request) for draft in drafts if draft.upgrade_to_stat]
    else:
        reason, references = flag_reason(flags), flag_references(flags)
        mris = [
            mri_suggestion(request, _KEY, code, "stat", prose.EMERGENCY_MRI, reason, references)
        ]
    return [_spinal_referral(flags, request), *mris]


def _spinal_referral(flags: Sequence[RedFlag], request: HookRequest) -> Suggestion:
    referral = service_request(
        SPINAL_SURGERY_REFERRAL,
        request,
        priority="stat",
        text=prose.EMERGENCY_REFERRAL_TEXT,
        reason_code=flag_reason(flags),
        reason_references=flag_references(flags),
    )
    return suggestion(
        request,
        f"{_KEY}/spinal-referral",
        prose.EMERGENCY_REFERRAL_LABEL,
        [create(referral, prose.EMERGENCY_REFERRAL_DESCRIPTION)],
        recommended=True,
    )


def _upgrade(draft: OrderRating, request: HookRequest) -> Suggestion:
    # The full resource replaces the draft; ``render`` adds the draft's own rating to it.
    resource = with_priority(draft.resource, "stat")
    return suggestion(
        request,
        f"{_KEY}/upgrade/{draft.reference}",
        prose.UPGRADE_LABEL,
        [update(resource, prose.UPGRADE_DESCRIPTION.format(reference=draft.reference))],
        recommended=True,
    )
