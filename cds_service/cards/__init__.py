"""The cards stage: an ``Evaluation`` in, the CDS Hooks response body out."""

from cds_service.cards.response import render, with_legacy_system_actions
from cds_service.cards.types import Card, CdsResponse

__all__ = ["Card", "CdsResponse", "render", "with_legacy_system_actions"]
