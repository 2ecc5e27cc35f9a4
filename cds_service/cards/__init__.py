"""The cards stage: an ``Evaluation`` in, the CDS Hooks response body out."""

from cds_service.cards.response import render, with_legacy_system_actions

__all__ = ["render", "with_legacy_system_actions"]
