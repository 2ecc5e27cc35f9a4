"""The cards stage: an ``Evaluation`` in, the CDS Hooks response body out."""

from cds_service.cards.response import render

__all__ = ["render"]
