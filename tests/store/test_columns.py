"""``clean_json``'s one-pass check agrees with the member-by-member cleaning it skips."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from cds_service.store.columns import _cleaned, clean_json

# Strings that often hold a NUL, or text that only spells its JSON escape.
_TEXT = st.text(alphabet=st.sampled_from(["a", "é", "\x00", "\\", "u", "0", '"']), max_size=8)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(_TEXT, inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_JSON)
def test_clean_json_stores_what_cleaning_every_member_stores(value: Any) -> None:
    cleaned = clean_json(value)
    assert orjson.dumps(cleaned) == orjson.dumps(_cleaned(value))
    assert not any("\x00" in text for text in _strings(orjson.loads(orjson.dumps(cleaned))))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in _strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_a_key_that_is_not_a_string_is_cleaned_member_by_member() -> None:
    assert clean_json({1: "a\x00b", "k": ["\x00"]}) == {"1": "ab", "k": [""]}
