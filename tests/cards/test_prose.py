"""The card text a clinician reviews in ``prose``: every fragment is shown by some card, fills
only named fields, and never holds a rule id."""

from __future__ import annotations

import ast
import re
import string
from pathlib import Path

from cds_service.cards import prose

CARDS = Path(prose.__file__).parent


def _fragments() -> dict[str, str]:
    """Every fragment by name; those of an ``OrderWording`` or a table as ``NAME.key``."""
    out: dict[str, str] = {}
    for name, value in vars(prose).items():
        if not name.isupper():
            continue
        if isinstance(value, prose.OrderWording):
            value = value._asdict()
        if isinstance(value, dict):
            out |= {f"{name}.{key}": text for key, text in value.items()}
        else:
            out[name] = value
    return out


FRAGMENTS = _fragments()
#: A rule id as the audit trail has them: ``cauda-equina/urinary-retention``.
RULE_ID = re.compile(r"\b[a-z][a-z0-9]*(?:-[a-z0-9]+)*/[a-z0-9-]+")


def _used() -> set[str]:
    """Every ``prose.NAME`` the other cards modules read."""
    used: set[str] = set()
    for path in CARDS.glob("*.py"):
        if path.name != "prose.py":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            used |= {
                node.attr
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "prose"
            }
    return used


def test_every_fragment_is_shown_by_some_card_and_every_one_read_exists() -> None:
    assert _used() == {name.split(".")[0] for name in FRAGMENTS}


def test_fields_are_named_and_fill_in_as_they_are() -> None:
    odd = [
        f"{name}: {{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
        for name, text in FRAGMENTS.items()
        for _, field, spec, conversion in string.Formatter().parse(text)
        if field is not None and (not field.isidentifier() or spec or conversion)
    ]
    assert odd == []


def test_no_fragment_holds_a_rule_id() -> None:
    assert [name for name, text in FRAGMENTS.items() if RULE_ID.search(text)] == []


def test_the_rule_id_pattern_finds_rule_ids() -> None:
    assert RULE_ID.search("see cauda-equina/urinary-retention here")
    assert RULE_ID.search("order-rating/under-6-weeks")
    assert not RULE_ID.search("spinal surgery / MSK interface (ACP/APS 2007)")
