"""Cards on order-select / order-sign: about the orders, not the patient (decision-rules §4).

A card is due only when an emergency flag stands, an order is rated not appropriate, or a
physiotherapy referral is ordered while red flags stand; otherwise the ratings alone answer.
"""

from __future__ import annotations

from cds_service.cards import guideline, override_reason, phrase
from cds_service.cards.card import card, create, delete, suggestion
from cds_service.cards.detail import detail, escape
from cds_service.cards.disposition_card import (
    conservative_reason,
    emergency_card,
    physiotherapy_referral,
    safety_netting,
    specialist_referral,
    urgent_mri_suggestion,
)
from cds_service.cards.service_request import order_name, reason_codes
from cds_service.cards.summary import summary
from cds_service.cards.types import Card, Suggestion
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.evaluation import Evaluation, OrderRating
from cds_service.protocol.hook_request import HookRequest


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


def _not_appropriate(
    rating: OrderRating, evaluation: Evaluation, request: HookRequest, config: ClinicalConfig
) -> Card:
    """``warning``: why the imaging order is not appropriate, and a one-click alternative."""
    a = evaluation.assessment
    key = f"order/not-appropriate/{rating.reference}"
    name = order_name(rating.resource)
    kind = "MRI" if rating.imaging == "lumbar-mri" else "imaging"
    # Rules §4: a lumbar MRI inside the prior-imaging window is the duplicate row.
    duplicate = rating.imaging == "lumbar-mri" and a.recent_lumbar_mri is not None
    lead = [f"**{escape(name)} is rated not appropriate.** {escape(rating.reason)}"]
    cancel = delete(rating.reference, f"Cancel the draft order {rating.reference}")
    if duplicate:
        finding = f"Lumbar MRI within the last {config.prior_mri_months} months"
        action = "repeat MRI not indicated, spinal specialist review instead"
        referral = specialist_referral(a, request, config, reason_codes(rating.resource))
        actions = [cancel, create(referral, "Create a routine referral to the spinal service")]
        label = "Cancel the repeat MRI and refer to a spinal specialist"
        reasons = override_reason.DUPLICATE_IMAGING
        topics = ["duplicate-imaging"]
        advice: list[str] = []
    else:
        finding = f"{phrase.syndrome(a, config)}, {conservative_reason(a, config)}"
        action = f"lumbar {kind} not yet indicated, physiotherapy instead"
        lead.append(
            f"Imaging is indicated for red flags, or after {phrase.number(config.persistent_weeks)}"
            " weeks of conservative care when surgery or injection is considered. If a red flag"
            " is present but not recorded, record it."
        )
        if evaluation.physiotherapy_orders:
            actions = [cancel]
            label = f"Cancel the {kind} order (physiotherapy already being ordered)"
        else:
            referral = physiotherapy_referral(a, request, config, reason_codes(rating.resource))
            actions = [cancel, create(referral, "Create a routine referral to physiotherapy")]
            label = f"Cancel the {kind} order and refer to physiotherapy"
        reasons = override_reason.IMAGING_NOT_INDICATED
        topics = ["imaging-not-indicated"]
        advice = safety_netting(config)
    return card(
        request,
        key,
        summary=summary(finding, action),
        indicator="warning",
        topic="imaging-appropriateness",
        detail=detail(a, config, lead=lead, advice=advice),
        assessment=a,
        suggestions=[
            suggestion(request, f"{key}/replace", label, actions, recommended=True)
        ],
        override_reasons=override_reason.codings(reasons),
        links=guideline.links([*topics, rating.rule]),
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
    first = "emergency spinal review" if tier == "emergency" else "urgent MRI"
    lead = [
        f"**Physiotherapy is being ordered ({orders}) while {tier} red flags stand:"
        f" {first} comes first.** Physiotherapy can follow once the red flag is explained."
    ]
    suggestions: list[Suggestion] = []
    has_mri = any(r.imaging == "lumbar-mri" for r in evaluation.order_ratings)
    if tier == "urgent" and not has_mri:
        suggestions.append(urgent_mri_suggestion(evaluation, request, key))
    return card(
        request,
        key,
        summary=summary(phrase.flag_finding(flags), f"physiotherapy ordered, {first} comes first"),
        indicator="warning",
        topic="physiotherapy-with-red-flags",
        detail=detail(a, config, lead=lead),
        assessment=a,
        suggestions=suggestions,
        override_reasons=override_reason.codings(override_reason.PHYSIOTHERAPY_WITH_RED_FLAGS),
        links=guideline.links([*(f.id for f in a.red_flags), *a.rules]),
    )
