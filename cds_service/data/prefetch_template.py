"""CDS Hooks 2.0 prefetch tokens: ``{{context.x}}`` and the ``{{user…Id}}`` tokens."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

_TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


def render_template(template: str, context: dict[str, Any]) -> str | None:
    """The query with every token replaced, or ``None`` when a token cannot be resolved."""
    unresolved = False

    def replace(match: re.Match[str]) -> str:
        nonlocal unresolved
        value = _token_value(match.group(1), context)
        if value is None:
            unresolved = True
            return ""
        return quote(value, safe="")

    rendered = _TOKEN.sub(replace, template)
    return None if unresolved else rendered


def _token_value(token: str, context: dict[str, Any]) -> str | None:
    if token.startswith("context."):
        value = context.get(token.removeprefix("context."))
        # Only root-level primitives are prefetch tokens (CDS Hooks 2.0 "Prefetch tokens").
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            return None
        return str(value)
    resource_type = _USER_TOKENS.get(token)
    user = context.get("userId")
    if resource_type and isinstance(user, str) and user.startswith(f"{resource_type}/"):
        return user.split("/", 1)[1] or None
    return None


def template_resource_type(template: str) -> str:
    """``Patient/{{…}}`` → ``Patient``; ``Condition?…`` → ``Condition``."""
    return re.split(r"[/?]", template, maxsplit=1)[0]


def is_read(template: str) -> bool:
    """A read (``Type/id``) answers one resource; a search answers a Bundle."""
    return "?" not in template and "/" in template
