"""Values made fit for their columns before they reach the database, on either backend.

PostgreSQL refuses a string longer than its ``VARCHAR(n)`` and any NUL character (in text and in
JSONB alike), and one refused row fails the whole batch insert it is in. SQLite accepts both, so
a row that "works" in development breaks a replica. Every stored value passes through here: a
string is cut to its column's length and loses its NUL characters, and every string inside a
JSON value loses its NUL characters. Request fields the store keeps are also refused earlier,
by the JSON Schemas (``maxLength`` and a NUL-free pattern), so that a caller gets a 400; this
module is the store's own guarantee, whatever a future caller passes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String, Table

NUL = "\x00"


def clean_text(value: str, length: int | None) -> str:
    """``value`` without NUL characters, cut to ``length`` characters (None: not cut)."""
    text = value.replace(NUL, "") if NUL in value else value
    return text if length is None else text[:length]


def clean_json(value: Any) -> Any:
    """A JSON value with every string, key included, free of NUL characters."""
    if isinstance(value, str):
        return clean_text(value, None)
    if isinstance(value, dict):
        return {clean_text(str(k), None): clean_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_json(v) for v in value]
    return value


def fit_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with each value fit for its column of ``table``: strings cut and NUL-free."""
    fitted: dict[str, Any] = {}
    for name, value in row.items():
        column_type = table.c[name].type
        if isinstance(value, str) and isinstance(column_type, String):
            fitted[name] = clean_text(value, column_type.length)
        elif value is not None and _is_json(column_type):
            fitted[name] = clean_json(value)
        else:
            fitted[name] = value
    return fitted


def column_length(table: Table, name: str) -> int | None:
    """The declared length of a string column (None when unbounded, like ``Text``)."""
    column_type = table.c[name].type
    return column_type.length if isinstance(column_type, String) else None


def _is_json(column_type: Any) -> bool:
    # The JSON columns carry a JSONB variant for PostgreSQL; the base type is JSON on both.
    return isinstance(column_type, JSON)
