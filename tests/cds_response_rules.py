"""The CDS Hooks 2.0.1 response rules, as one reusable assertion for any response body.

``assert_valid_response(body)`` checks ``hooks/cds-response.schema.json`` and what a schema
cannot say: the invariants cds-resp-1..7, the JSON rule that optional values are never null or
empty (anywhere, embedded FHIR included), every card and suggestion carrying a uuid unique in
the body (Radix: feedback needs them), and every embedded FHIR resource valid under R4B.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from jsonschema import Draft202012Validator

from cds_service.resources import data_dir

_INDICATORS = frozenset({"info", "warning", "critical"})
_SELECTION = frozenset({"at-most-one", "any"})
_ACTION_TYPES = frozenset({"create", "update", "delete"})
_RELATIVE_REFERENCE = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads((data_dir("hooks") / "cds-response.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def assert_valid_response(body: dict[str, Any]) -> None:
    """Raise ``AssertionError`` listing every rule ``body`` breaks."""
    problems = response_problems(body)
    assert not problems, "invalid CDS Hooks response:\n- " + "\n- ".join(problems)


def response_problems(body: Any) -> list[str]:
    """Every rule ``body`` breaks, as readable lines (empty when it is valid)."""
    if not isinstance(body, dict):
        return ["body is not a JSON object"]
    problems = [
        f"schema: {'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
        for e in sorted(_validator().iter_errors(body), key=lambda e: list(e.absolute_path))
    ]
    problems += _empties(body)
    cards = body.get("cards")
    if not isinstance(cards, list):
        return [*problems, "cards: missing or not an array"]
    uuids: list[str] = []
    for i, card in enumerate(cards):
        problems += _card_problems(f"cards[{i}]", card, uuids)
    actions = body.get("systemActions")
    if actions is not None:
        if not isinstance(actions, list) or not actions:
            problems.append("systemActions: must be a non-empty array when present")
        else:
            for i, action in enumerate(actions):
                problems += _action_problems(f"systemActions[{i}]", action, suggestion=False)
    repeated = sorted({u for u in uuids if uuids.count(u) > 1})
    problems += [f"uuid {u} is used more than once" for u in repeated]
    return problems


def _card_problems(where: str, card: Any, uuids: list[str]) -> list[str]:
    if not isinstance(card, dict):
        return [f"{where}: not an object"]
    out: list[str] = []
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        out.append(f"{where}.summary: required")
    elif len(summary) >= 140:
        out.append(f"{where}.summary: {len(summary)} characters, must be under 140")
    if card.get("indicator") not in _INDICATORS:
        out.append(f"{where}.indicator: {card.get('indicator')!r} not in {sorted(_INDICATORS)}")
    source = card.get("source")
    if not isinstance(source, dict) or not isinstance(source.get("label"), str):
        out.append(f"{where}.source.label: required")
    out += _uuid(f"{where}.uuid", card.get("uuid"), uuids)
    suggestions = card.get("suggestions") or []
    if suggestions and card.get("selectionBehavior") not in _SELECTION:
        out.append(f"{where}: suggestions need selectionBehavior (cds-resp-6)")
    recommended = [s for s in suggestions if isinstance(s, dict) and s.get("isRecommended")]
    if card.get("selectionBehavior") == "at-most-one" and len(recommended) > 1:
        out.append(f"{where}: at-most-one with {len(recommended)} recommended (cds-resp-1)")
    for i, suggestion in enumerate(suggestions):
        out += _suggestion_problems(f"{where}.suggestions[{i}]", suggestion, uuids)
    for i, reason in enumerate(card.get("overrideReasons") or []):
        missing = [k for k in ("code", "system", "display") if not _text(reason, k)]
        if missing:
            out.append(f"{where}.overrideReasons[{i}]: missing {missing} (cds-resp-4)")
    for i, link in enumerate(card.get("links") or []):
        if not isinstance(link, dict):
            out.append(f"{where}.links[{i}]: not an object")
            continue
        if link.get("type") not in ("absolute", "smart"):
            out.append(f"{where}.links[{i}].type: {link.get('type')!r}")
        if "appContext" in link and link.get("type") != "smart":
            out.append(f"{where}.links[{i}]: appContext on a non-smart link (cds-resp-3)")
        if not _text(link, "label") or not _text(link, "url"):
            out.append(f"{where}.links[{i}]: label and url are required")
    return out


def _suggestion_problems(where: str, suggestion: Any, uuids: list[str]) -> list[str]:
    if not isinstance(suggestion, dict):
        return [f"{where}: not an object"]
    out = [] if _text(suggestion, "label") else [f"{where}.label: required"]
    out += _uuid(f"{where}.uuid", suggestion.get("uuid"), uuids)
    behaviour = suggestion.get("actionSelectionBehavior")
    if behaviour is not None and behaviour not in ("all", "any", "at-most-one"):
        out.append(f"{where}.actionSelectionBehavior: {behaviour!r} (cds-resp-7)")
    for i, action in enumerate(suggestion.get("actions") or []):
        out += _action_problems(f"{where}.actions[{i}]", action, suggestion=True)
    return out


def _action_problems(where: str, action: Any, *, suggestion: bool) -> list[str]:
    if not isinstance(action, dict):
        return [f"{where}: not an object"]
    out: list[str] = []
    kind = action.get("type")
    if kind not in _ACTION_TYPES:
        out.append(f"{where}.type: {kind!r} not in {sorted(_ACTION_TYPES)}")
    if suggestion and not _text(action, "description"):
        out.append(f"{where}.description: required in a suggestion (cds-resp-5)")
    if kind == "delete":
        if "resource" in action:
            out.append(f"{where}: delete must not carry resource (cds-resp-2)")
        if not _RELATIVE_REFERENCE.match(str(action.get("resourceId", ""))):
            out.append(f"{where}.resourceId: a relative reference Type/id is required")
    elif kind in ("create", "update"):
        resource = action.get("resource")
        if not isinstance(resource, dict):
            out.append(f"{where}.resource: a full FHIR resource is required for {kind}")
        else:
            if kind == "update" and not resource.get("id"):
                out.append(f"{where}.resource.id: an update names the resource it replaces")
            out += _fhir_problems(f"{where}.resource", resource)
    return out


def _fhir_problems(where: str, resource: dict[str, Any]) -> list[str]:
    kind = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(kind))
    except KeyError:
        return [f"{where}: unknown resourceType {kind!r}"]
    try:
        model.model_validate(resource)
    except Exception as error:  # pydantic ValidationError, or FHIR-specific errors
        return [f"{where}: not a valid R4B {kind}: {error}"]
    return []


def _uuid(where: str, value: Any, seen: list[str]) -> list[str]:
    if not isinstance(value, str) or not value:
        return [f"{where}: required (feedback correlates on it)"]
    seen.append(value)
    return []


def _empties(value: Any, where: str = "") -> list[str]:
    """Paths holding null, "", [] or {}; ``cards`` itself may be empty ("no guidance")."""
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if _empty(item) and path != "cards":
                out.append(f"{path}: {json.dumps(item)} (omit empty optional values)")
            out += _empties(item, path)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            path = f"{where}[{i}]"
            if _empty(item):
                out.append(f"{path}: {json.dumps(item)} (omit empty values)")
            out += _empties(item, path)
    return out


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | dict) and not value)


def _text(obj: Any, key: str) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get(key), str) and bool(obj[key].strip())
