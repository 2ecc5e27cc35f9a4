"""An order's appropriateness rating as a system action (Argonaut CDS Hooks for PAMA)."""

from __future__ import annotations

from typing import Any

from cds_service.cards.service_request import rated
from cds_service.clinical.evaluation import OrderRating


def rating_action(rating: OrderRating) -> dict[str, Any]:
    """An ``update`` of the draft exactly as sent, adding only the ``pama-rating`` extension."""
    return {
        "type": "update",
        "description": f"Appropriateness of {rating.reference}: {rating.rating} ({rating.rule})",
        "resource": rated(rating.resource, rating.rating),
    }
