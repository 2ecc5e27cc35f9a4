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

import functools
from typing import Any

import orjson
from sqlalchemy import JSON, String, Table

NUL = "\x00"


def clean_text(value: str, length: int | None) -> str:
    """``value`` without NUL characters, cut to ``length`` characters (None: not cut)."""
    text = value.replace(NUL, "") if NUL in value else value
    return text if length is None else text[:length]


def clean_json(value: Any) -> Any:
    """A JSON value with every string, key included, free of NUL characters."""
    if isinstance(value, dict | list | tuple) and not _may_hold_nul(value):
        return value
    return _cleaned(value)


def _may_hold_nul(value: Any) -> bool:
    """False only when no string of ``value`` holds a NUL (JSON escapes it as ``\\u0000``):
    one C-level pass instead of a Python step per member. A string that merely spells the
    escape, or a value orjson cannot encode (a key that is not a string), says maybe."""
    try:
        return b"\\u0000" in orjson.dumps(value)
    except TypeError:
        return True


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value, None)
    if isinstance(value, dict):
        return {clean_text(str(k), None): _cleaned(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    return value


def fit_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with each value fit for its column of ``table``: strings cut and NUL-free."""
    columns = _columns(table)
    fitted: dict[str, Any] = {}
    for name, value in row.items():
        kind, length = columns[name]
        if isinstance(value, str) and kind is _TEXT:
            fitted[name] = clean_text(value, length)
        elif value is not None and kind is _JSON:
            fitted[name] = clean_json(value)
        else:
            fitted[name] = value
    return fitted


_TEXT, _JSON, _OTHER = "text", "json", "other"


@functools.cache
def _columns(table: Table) -> dict[str, tuple[str, int | None]]:
    """Per column of ``table``: its kind, and the length a string is cut to (None: not cut).
    Every audit row is fit: the column types are read once per table, not once per value."""
    return {column.name: _kind(column.type) for column in table.columns}


def _kind(column_type: Any) -> tuple[str, int | None]:
    if isinstance(column_type, String):
        return _TEXT, column_type.length
    return (_JSON if _is_json(column_type) else _OTHER), None


def column_length(table: Table, name: str) -> int | None:
    """The declared length of a string column (None when unbounded, like ``Text``)."""
    return _kind(table.c[name].type)[1]


def _is_json(column_type: Any) -> bool:
    # The JSON columns carry a JSONB variant for PostgreSQL; the base type is JSON on both.
    return isinstance(column_type, JSON)
