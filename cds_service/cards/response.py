"""The body of a CDS Hooks service response: ``render`` turns an ``Evaluation`` into it."""

from __future__ import annotations

from cds_service.cards.disposition_card import disposition_card
from cds_service.cards.order_card import order_cards
from cds_service.cards.rating import rate_suggested_orders, rating_action
from cds_service.cards.types import CdsResponse
from cds_service.clinical import ClinicalConfig, Evaluation
from cds_service.protocol import HookRequest

ORDER_HOOKS = frozenset({"order-select", "order-sign"})


def render(evaluation: Evaluation, request: HookRequest, config: ClinicalConfig) -> CdsResponse:
    """``{"cards": [...]}``, plus ``systemActions`` (the order ratings) when there are any."""
    if request.hook in ORDER_HOOKS:
        cards = order_cards(evaluation, request, config)
    else:
        card = disposition_card(evaluation, request, config)
        cards = [card] if card is not None else []
    rate_suggested_orders(cards, evaluation, request, config)
    body: CdsResponse = {"cards": cards}
    actions = [rating_action(rating, request, config) for rating in evaluation.order_ratings]
    if actions:
        body["systemActions"] = actions
    return body


def with_legacy_system_actions(body: CdsResponse) -> CdsResponse:
    """``body`` plus a copy of its ``systemActions`` in ``extension.systemActions``.

    Clients of CDS Hooks 1.x habits (the CDS Hooks Sandbox's PAMA screen) read ratings only
    there; the 2.0 top-level ``systemActions`` stays, and stays the contract.
    """
    if "systemActions" not in body:
        return body
    out = body.copy()
    out["extension"] = {**body.get("extension", {}), "systemActions": body["systemActions"]}
    return out
