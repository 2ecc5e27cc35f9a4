"""The clinical engine: FHIR resources and findings in, an ``Evaluation`` out.

Pure: no I/O, no third-party package, ``now`` passed in; it imports no other stage.
"""

from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.evaluation import (
    Assessment,
    Evaluation,
    Evidence,
    Localisation,
    OrderRating,
    Rating,
    RedFlag,
    Side,
    Tier,
)
from cds_service.clinical.finding import Finding, Level, NoteFinding, parse_instant
from cds_service.clinical.knowledge import Knowledge, KnowledgeError, load_knowledge

__all__ = [
    "Assessment",
    "ClinicalConfig",
    "Evaluation",
    "Evidence",
    "Finding",
    "Knowledge",
    "KnowledgeError",
    "Level",
    "Localisation",
    "NoteFinding",
    "OrderRating",
    "Rating",
    "RedFlag",
    "Side",
    "Tier",
    "evaluate",
    "load_knowledge",
    "parse_instant",
]
