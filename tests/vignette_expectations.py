"""Check a CDS Hooks response against a case's ``expected``, reading it as an integration team
would: from the cards' ``org.radix-cds.assessment`` (docs/assessment-contract.md) and from
``systemActions``.

``expected`` keys: ``disposition`` (the most severe card's; no card on patient-view = ``none``),
``tier``, ``redFlags`` (each must appear), ``absentRedFlags`` (none may), ``root`` / ``side``,
``noLocalisation``, ``orderRatings`` (reference -> pama-rating code; ``None`` = must not be
rated; no other order may be), ``expectWarningCard``, ``expectPriorityUpgrade`` (an update or
create of a stat lumbar MRI) and ``noCards``. On the order hooks the assessment is checked only
when a card carries it, since a rating alone may answer.
"""

from __future__ import annotations

from typing import Any

from cds_service.clinical.evaluation import DISPOSITION_ORDER

PAMA_RATING = "http://fhir.org/argonaut/Extension/pama-rating"
_TIERS = {"emergency": 2, "urgent": 1}


def assessments(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        card["extension"]["org.radix-cds.assessment"]
        for card in response.get("cards", [])
        if "org.radix-cds.assessment" in card.get("extension", {})
    ]


def ratings(response: dict[str, Any]) -> dict[str, str]:
    """``ServiceRequest/<id>`` → pama-rating code, from top-level or legacy systemActions."""
    actions = list(response.get("systemActions", []))
    actions += response.get("extension", {}).get("systemActions", [])
    found: dict[str, str] = {}
    for action in actions:
        resource = action.get("resource") or {}
        if action.get("type") != "update" or resource.get("resourceType") != "ServiceRequest":
            continue
        for ext in resource.get("extension", []):
            if ext.get("url") == PAMA_RATING:
                code = ext["valueCodeableConcept"]["coding"][0]["code"]
                found[f"ServiceRequest/{resource['id']}"] = code
    return found


def _priority_upgraded(response: dict[str, Any], draft_ids: set[str]) -> bool:
    actions = list(response.get("systemActions", []))
    for card in response.get("cards", []):
        for suggestion in card.get("suggestions", []):
            actions += suggestion.get("actions", [])
    for action in actions:
        resource = action.get("resource") or {}
        if resource.get("resourceType") != "ServiceRequest" or resource.get("priority") != "stat":
            continue
        if action.get("type") == "update" and resource.get("id") in draft_ids:
            return True
        if action.get("type") == "create" and _is_lumbar_mri(resource):
            return True
    return False


def _is_lumbar_mri(resource: dict[str, Any]) -> bool:
    codes = {c.get("code") for c in resource.get("code", {}).get("coding", [])}
    return bool(codes & {"72148", "72149", "72158", "30679-5", "30678-7", "24967-2", "24968-0"})


def check(vignette: Any, response: dict[str, Any]) -> list[str]:
    """Every way the response misses the vignette's expectations (empty when it meets them)."""
    expected = vignette.expected
    problems: list[str] = []
    cards = response.get("cards")
    if not isinstance(cards, list):
        return ["response has no cards array"]
    found = assessments(response)
    order_hook = vignette.hook != "patient-view"
    clinical_checks = (
        not order_hook
        or bool(found)
        or expected.get("expectWarningCard")
        or expected.get("expectPriorityUpgrade")
    )

    if clinical_checks:
        if "disposition" in expected:
            shown = [a["disposition"] for a in found] or ["none"]
            disposition = min(shown, key=DISPOSITION_ORDER.index)
            if disposition != expected["disposition"]:
                problems.append(f"disposition {disposition} != {expected['disposition']}")
        flags = {f["id"]: f["tier"] for a in found for f in a.get("redFlags", [])}
        if "tier" in expected:
            tier = max(flags.values(), key=_TIERS.__getitem__, default="none")
            if tier != expected["tier"]:
                problems.append(f"tier {tier} != {expected['tier']}")
        for flag in expected.get("redFlags", []):
            if flag not in flags:
                problems.append(f"red flag {flag} missing")
        for flag in expected.get("absentRedFlags", []):
            if flag in flags:
                problems.append(f"red flag {flag} must be absent")
        localisations = [a["localisation"] for a in found if "localisation" in a]
        if "root" in expected or "side" in expected:
            if not localisations:
                problems.append("no localisation")
            else:
                loc = localisations[0]
                if "root" in expected and loc.get("root") != expected["root"]:
                    problems.append(f"root {loc.get('root')} != {expected['root']}")
                if "side" in expected and loc.get("side") != expected["side"]:
                    problems.append(f"side {loc.get('side')} != {expected['side']}")
        if expected.get("noLocalisation") and any(loc.get("root") for loc in localisations):
            problems.append("a localisation was given")

    if "orderRatings" in expected:
        given = ratings(response)
        for reference, rating in expected["orderRatings"].items():
            if given.get(reference) != rating:
                problems.append(f"rating of {reference}: {given.get(reference)} != {rating}")
        for reference in set(given) - set(expected["orderRatings"]):
            problems.append(f"unexpected rating of {reference}")
    if expected.get("expectWarningCard") and not any(
        c.get("indicator") == "warning" for c in cards
    ):
        problems.append("no warning card")
    if expected.get("expectPriorityUpgrade"):
        drafts = {o.get("id") for o in vignette.draft_orders}
        if not _priority_upgraded(response, drafts):
            problems.append("no priority upgrade to stat")
    if expected.get("noCards") and cards:
        problems.append(f"{len(cards)} cards where none are due")
    return problems
