"""One CDS Hooks card, its suggestions and actions, as plain JSON with no empty fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from cds_service.cards.identity import stable_uuid
from cds_service.cards.types import (
    Action,
    Card,
    CardOptions,
    Coding,
    Indicator,
    Link,
    Resource,
    SelectionBehavior,
    Suggestion,
)
from cds_service.clinical import Assessment
from cds_service.protocol import HookRequest

ASSESSMENT_EXTENSION: Final = "org.radix-cds.assessment"
SOURCE_URL = "https://radix-cds.org"
TOPIC_SYSTEM = "https://radix-cds.org/fhir/CodeSystem/card-topic"

_TOPICS = {
    "emergency-referral": "Emergency spinal referral",
    "urgent-imaging": "Urgent spinal imaging",
    "mri": "Lumbar MRI indicated",
    "specialist-review": "Spinal specialist review",
    "physiotherapy": "Physiotherapy first",
    "imaging-appropriateness": "Lumbar imaging appropriateness",
    "physiotherapy-with-red-flags": "Physiotherapy ordered despite red flags",
}


def create(resource: Resource, description: str) -> Action:
    return {"type": "create", "description": description, "resource": resource}


def update(resource: Resource, description: str) -> Action:
    return {"type": "update", "description": description, "resource": resource}


def delete(reference: str, description: str) -> Action:
    # resourceId, never resource: cds-resp-2, and `resource` for deletes is deprecated in 2.0.
    return {"type": "delete", "description": description, "resourceId": reference}


def suggestion(
    request: HookRequest,
    key: str,
    label: str,
    actions: Sequence[Action],
    *,
    recommended: bool = False,
) -> Suggestion:
    out: Suggestion = {"label": label, "uuid": stable_uuid(request, key)}
    if recommended:
        out["isRecommended"] = True
    if actions:
        out["actions"] = list(actions)
    return out


def card(
    request: HookRequest,
    key: str,
    *,
    summary: str,
    indicator: Indicator,
    topic: str,
    detail: str,
    assessment: Assessment,
    suggestions: Sequence[Suggestion] = (),
    selection_behavior: SelectionBehavior = "at-most-one",
    override_reasons: Sequence[Coding] = (),
    links: Sequence[Link] = (),
) -> Card:
    """A clinical card; ``key`` names the rule it renders and seeds its uuid."""
    options: CardOptions = {}
    if detail:
        options["detail"] = detail
    if suggestions:
        options["suggestions"] = list(suggestions)
        options["selectionBehavior"] = selection_behavior
    if override_reasons:
        options["overrideReasons"] = list(override_reasons)
    if links:
        options["links"] = list(links)
    return {
        "uuid": stable_uuid(request, key),
        "summary": summary,
        "indicator": indicator,
        "source": {
            "label": "Radix",
            "url": SOURCE_URL,
            "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": _TOPICS[topic]},
        },
        **options,
        "extension": {ASSESSMENT_EXTENSION: assessment.to_extension()},
    }
