"""Reading FHIR resources as they arrive: plain JSON, whatever its shape, and never raising.

One way, shared by every stage, to read a resource's reference, an array, the objects of an
array, and how a CodeableConcept names itself, and to turn an identifier into words; so the
same malformed input reads the same everywhere. Pure functions, standard library only: the
clinical engine imports them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_SEPARATORS = re.compile(r"[-_]+")


def reference(resource: Any) -> str | None:
    """``Type/id`` of a resource; None unless it has a string type and a non-empty string id.

    What to put instead (an evidence line still needs a name, an order without an id cannot be
    rated) is the caller's decision.
    """
    if not _is_object(resource):
        return None
    kind, ident = resource.get("resourceType"), resource.get("id")
    if isinstance(kind, str) and isinstance(ident, str) and ident:
        return f"{kind}/{ident}"
    return None


def as_list(value: Any) -> list[Any]:
    """A JSON array as it is; anything else (absent, null, an object, a string) as none."""
    return value if isinstance(value, list) else []


def objects(parent: Any, key: str) -> list[Mapping[str, Any]]:
    """The JSON objects in the array ``parent[key]``; none when either is not what it should be."""
    value = parent.get(key) if _is_object(parent) else None
    return [item for item in as_list(value) if _is_object(item)]


def concept_text(concept: Any) -> str | None:
    """How a CodeableConcept names itself: its ``text``, else its first coding's ``display``.

    Stripped; a blank one counts as absent, so the next is read; None when there is none.
    """
    if not _is_object(concept):
        return None
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for coding in as_list(concept.get("coding")):
        display = coding.get("display") if _is_object(coding) else None
        if isinstance(display, str) and display.strip():
            return display.strip()
    return None


def humanise(identifier: str) -> str:
    """The words of an identifier (a concept, a flag, a data key): ``foot-drop`` → ``foot drop``."""
    return _SEPARATORS.sub(" ", identifier).strip()


def _is_object(value: Any) -> bool:
    # JSON gives plain dicts: the exact type check spares the slow ABC check on the hot path.
    return type(value) is dict or isinstance(value, Mapping)
