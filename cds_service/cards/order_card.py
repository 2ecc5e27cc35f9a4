"""Cards on order-select / order-sign: about the orders, not the patient (decision-rules §4).

A card is due only when an emergency flag stands, an order is rated not appropriate, or a
physiotherapy referral is ordered while red flags stand; otherwise the ratings alone answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.cards import guideline, override_reason, phrase, prose
from cds_service.cards.card import card, create, delete, suggestion
from cds_service.cards.common import (
    conservative_reason,
    physiotherapy_referral,
    safety_netting,
    specialist_referral,
    urgent_mri_suggestion,
)
from cds_service.cards.detail import detail, escape
from cds_service.cards.emergency_card import emergency_card
from cds_service.cards.service_request import order_name, reason_codes
from cds_service.cards.summary import summary
from cds_service.cards.types import Action, Card
from cds_service.clinical import ClinicalConfig, Evaluation, OrderRating
from cds_service.protocol import HookRequest


def order_cards(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> list[Card]:
    """The cards due on an order hook, most urgent first; often none."""
    tier = evaluation.assessment.tier
    cards: list[Card] = []
    if tier == "emergency":
        cards.append(emergency_card(evaluation, request, config))
    cards.extend(
        _not_appropriate(rating, evaluation, request, config)
        for rating in evaluation.order_ratings
        if rating.rating == "not-appropriate"
    )
    if evaluation.physiotherapy_orders and tier is not None:
        cards.append(_physiotherapy_with_red_flags(evaluation, request, config))
    return cards


@dataclass(frozen=True)
class _Alternative:
    """What a card about an order rated not appropriate says, and offers instead of it."""

    finding: str
    action: str
    label: str
    actions: list[Action]
    reasons: tuple[str, ...]  # override reason codes
    topic: str  # guideline topic
    lead: tuple[str, ...] = ()
    advice: tuple[str, ...] = ()


def _not_appropriate(
    rating: OrderRating, evaluation: Evaluation, request: HookRequest, config: ClinicalConfig
) -> Card:
    """``warning``: why the imaging order is not appropriate, and a one-click alternative."""
    key = f"order/not-appropriate/{rating.reference}"
    name = order_name(rating.resource)
    lead = prose.NOT_APPROPRIATE_LEAD.format(name=escape(name), reason=escape(rating.reason))
    # Rules §4: a lumbar MRI inside the prior-imaging window is the duplicate row.
    duplicate = (
        rating.imaging == "lumbar-mri" and evaluation.assessment.recent_lumbar_mri is not None
    )
    alternative = (
        _specialist_instead(rating, evaluation, request, config)
        if duplicate
        else _physiotherapy_instead(rating, evaluation, request, config)
    )
    return card(
        request,
        key,
        summary=summary(alternative.finding, alternative.action),
        indicator="warning",
        topic="imaging-appropriateness",
        detail=detail(
            evaluation.assessment,
            config,
            lead=[lead, *alternative.lead],
            advice=alternative.advice,
        ),
        assessment=evaluation.assessment,
        suggestions=[
            suggestion(
                request, f"{key}/replace", alternative.label, alternative.actions, recommended=True
            )
        ],
        override_reasons=override_reason.codings(alternative.reasons),
        links=guideline.links([alternative.topic, rating.rule]),
    )


def _cancel(rating: OrderRating) -> Action:
    return delete(rating.reference, prose.CANCEL_DESCRIPTION.format(reference=rating.reference))


def _specialist_instead(
    rating: OrderRating, evaluation: Evaluation, request: HookRequest, config: ClinicalConfig
) -> _Alternative:
    """A repeat MRI: cancel it, refer to a spinal specialist to review the existing one."""
    a = evaluation.assessment
    referral = specialist_referral(a, request, config, reason_codes(rating.resource))
    return _Alternative(
        finding=prose.DUPLICATE_FINDING.format(months=config.prior_mri_months),
        action=prose.DUPLICATE_ACTION,
        label=prose.DUPLICATE_LABEL,
        actions=[_cancel(rating), create(referral, prose.SPECIALIST_REFERRAL_DESCRIPTION)],
        reasons=override_reason.DUPLICATE_IMAGING,
        topic="duplicate-imaging",
    )


def _physiotherapy_instead(
    rating: OrderRating, evaluation: Evaluation, request: HookRequest, config: ClinicalConfig
) -> _Alternative:
    """Imaging before conservative care: cancel it, refer to physiotherapy unless ordered."""
    a = evaluation.assessment
    kind = "MRI" if rating.imaging == "lumbar-mri" else "imaging"
    if evaluation.physiotherapy_orders:
        actions = [_cancel(rating)]
        label = prose.NOT_YET_CANCEL_LABEL.format(kind=kind)
    else:
        referral = physiotherapy_referral(a, request, config, reason_codes(rating.resource))
        actions = [_cancel(rating), create(referral, prose.PHYSIOTHERAPY_REFERRAL_DESCRIPTION)]
        label = prose.NOT_YET_REPLACE_LABEL.format(kind=kind)
    return _Alternative(
        finding=prose.NOT_YET_FINDING.format(
            syndrome=phrase.syndrome(a, config), reason=conservative_reason(a, config)
        ),
        action=prose.NOT_YET_ACTION.format(kind=kind),
        label=label,
        actions=actions,
        reasons=override_reason.IMAGING_NOT_INDICATED,
        topic="imaging-not-indicated",
        lead=(prose.NOT_YET_LEAD.format(weeks=phrase.number(config.persistent_weeks)),),
        advice=tuple(safety_netting(config)),
    )


def _physiotherapy_with_red_flags(
    evaluation: Evaluation, request: HookRequest, config: ClinicalConfig
) -> Card:
    """``warning``: physiotherapy is being ordered while emergency or urgent flags stand."""
    a = evaluation.assessment
    tier = a.tier or "urgent"
    flags = phrase.flags_of(a, tier)
    # The orders are part of the id: another set of referrals is another card.
    key = "order/physiotherapy-with-red-flags/" + ",".join(sorted(evaluation.physiotherapy_orders))
    orders = ", ".join(escape(r) for r in evaluation.physiotherapy_orders)
    first = prose.FIRST_EMERGENCY if tier == "emergency" else prose.FIRST_URGENT
    lead = prose.PHYSIOTHERAPY_WITH_FLAGS_LEAD.format(orders=orders, tier=tier, first=first)
    has_mri = any(r.imaging == "lumbar-mri" for r in evaluation.order_ratings)
    return card(
        request,
        key,
        summary=summary(
            phrase.flag_finding(flags), prose.PHYSIOTHERAPY_WITH_FLAGS_ACTION.format(first=first)
        ),
        indicator="warning",
        topic="physiotherapy-with-red-flags",
        detail=detail(a, config, lead=[lead]),
        assessment=a,
        suggestions=(
            [urgent_mri_suggestion(evaluation, request, key)]
            if tier == "urgent" and not has_mri
            else []
        ),
        override_reasons=override_reason.codings(override_reason.PHYSIOTHERAPY_WITH_RED_FLAGS),
        links=guideline.links([*(f.id for f in a.red_flags), *a.rules]),
    )
