"""Appropriateness ratings on ServiceRequests, as the Argonaut CDS Hooks for PAMA guide has them.

Every lumbar imaging order in scope is rated by a ``systemActions`` ``update`` of the draft
exactly as sent plus the rating extensions. Every ServiceRequest a suggestion creates or
updates carries its own rating too: the guide pre-rates alternative orders, and a client such
as the CDS Hooks Sandbox fails on an update without one. A proposed lumbar MRI is rated by the
same rules as a draft (``Evaluation.new_mri_rating``); a proposed referral is
``no-criteria-apply``, since imaging appropriateness criteria do not apply to a referral.

Radix sends no ``pama-rating-qcdsm-consulted`` G-code: it is not a CMS-qualified clinical
decision support mechanism and must not claim to be one.
"""

from __future__ import annotations

from cds_service.cards.guideline import ACR_LOW_BACK_PAIN, NICE_NG59
from cds_service.cards.identity import stable_uuid
from cds_service.cards.service_request import PamaRating, is_imaging, rated
from cds_service.cards.types import Action, Card
from cds_service.clinical import ClinicalConfig, Evaluation, OrderRating, Rating
from cds_service.protocol import HookRequest

_WORDS: dict[str, str] = {
    "appropriate": "appropriate",
    "not-appropriate": "not appropriate",
    "no-criteria-apply": "no appropriateness criteria apply",
}


def auc_applied(config: ClinicalConfig) -> str:
    """The guideline a rating applies: NICE NG59 in UK mode, else the ACR criteria."""
    return NICE_NG59.url if config.practice_mode == "uk" else ACR_LOW_BACK_PAIN.url


def pama_rating(
    rating: Rating, request: HookRequest, order_key: str, config: ClinicalConfig
) -> PamaRating:
    """The rating of one order; its consult id is the same for the same call, patient and order,
    so that a client can correlate a re-rating with the first one."""
    consult = stable_uuid(request, f"pama-consult/{order_key}")
    return PamaRating(rating, consult, auc_applied(config))


def rating_action(rating: OrderRating, request: HookRequest, config: ClinicalConfig) -> Action:
    """An ``update`` of the draft exactly as sent, adding only the rating extensions."""
    return {
        "type": "update",
        "description": f"{rating.reference} is rated {_WORDS[rating.rating]}: {rating.reason}",
        "resource": rated(
            rating.resource, pama_rating(rating.rating, request, rating.reference, config)
        ),
    }


def rate_suggested_orders(
    cards: list[Card],
    evaluation: Evaluation,
    request: HookRequest,
    config: ClinicalConfig,
) -> None:
    """Give every ServiceRequest that a suggestion creates or updates its rating (in place)."""
    drafts = {rating.reference: rating.rating for rating in evaluation.order_ratings}
    for card in cards:
        for suggestion in card.get("suggestions", ()):
            for index, action in enumerate(suggestion.get("actions", ())):
                resource = action.get("resource")
                if resource is None or resource.get("resourceType") != "ServiceRequest":
                    continue
                reference = f"ServiceRequest/{resource.get('id')}"
                if action["type"] == "update" and reference in drafts:
                    # The draft in scope, changed (made stat): its own rating, its consult id.
                    rating, key = drafts[reference], reference
                else:
                    imaging = is_imaging(resource)
                    rating = evaluation.new_mri_rating if imaging else "no-criteria-apply"
                    key = f"{suggestion['uuid']}/{index}"
                action["resource"] = rated(resource, pama_rating(rating, request, key, config))
