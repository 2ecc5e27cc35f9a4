"""Stable identifiers for cards and suggestions, so feedback can be matched to what was shown."""

from __future__ import annotations

import uuid

#: Namespace of every Radix card and suggestion id (uuid5 of the project's URL).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://radix-cds.org/cds-hooks/cards")


def stable_uuid(hook_instance: str, key: str) -> str:
    """The same (hook instance, key) always gives the same id; anything else gives another."""
    # A separator that cannot occur in a UUID keeps ("a", "b/c") apart from ("a/b", "c").
    return str(uuid.uuid5(NAMESPACE, f"{hook_instance}\x00{key}"))
