"""One CDS Hooks card, its suggestions and actions, as plain JSON with no empty fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from cds_service.cards.identity import stable_uuid
from cds_service.clinical import Assessment
from cds_service.protocol import HookRequest

Indicator = Literal["info", "warning", "critical"]
SelectionBehavior = Literal["at-most-one", "any"]

ASSESSMENT_EXTENSION = "org.radix-cds.assessment"
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


def create(resource: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "create", "description": description, "resource": resource}


def update(resource: dict[str, Any], description: str) -> dict[str, Any]:
    return {"type": "update", "description": description, "resource": resource}


def delete(reference: str, description: str) -> dict[str, Any]:
    # resourceId, never resource: cds-resp-2, and `resource` for deletes is deprecated in 2.0.
    return {"type": "delete", "description": description, "resourceId": reference}


def suggestion(
    request: HookRequest,
    key: str,
    label: str,
    actions: Sequence[dict[str, Any]],
    *,
    recommended: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {"label": label, "uuid": stable_uuid(request, key)}
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
    suggestions: Sequence[dict[str, Any]] = (),
    selection_behavior: SelectionBehavior = "at-most-one",
    override_reasons: Sequence[dict[str, Any]] = (),
    links: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """A clinical card; ``key`` names the rule it renders and seeds its uuid."""
    out: dict[str, Any] = {
        "uuid": stable_uuid(request, key),
        "summary": summary,
        "indicator": indicator,
        "source": {
            "label": "Radix",
            "url": SOURCE_URL,
            "topic": {"system": TOPIC_SYSTEM, "code": topic, "display": _TOPICS[topic]},
        },
    }
    if detail:
        out["detail"] = detail
    if suggestions:
        out["suggestions"] = list(suggestions)
        out["selectionBehavior"] = selection_behavior
    if override_reasons:
        out["overrideReasons"] = list(override_reasons)
    if links:
        out["links"] = list(links)
    out["extension"] = {ASSESSMENT_EXTENSION: assessment.to_extension()}
    return out
