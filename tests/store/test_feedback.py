from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.store.feedback import feedback_row, feedback_rows, identity, outcome_instant

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def accepted(card: str = "c1", at: str = "2026-03-02T09:31:00Z", ids: tuple[str, ...] = ("s1",)):
    return {
        "card": card,
        "outcome": "accepted",
        "outcomeTimestamp": at,
        "acceptedSuggestions": [{"id": i} for i in ids],
    }


@pytest.mark.parametrize(
    "spelling",
    [
        "2026-03-02T09:31:00Z",
        "2026-03-02t09:31:00z",
        "2026-03-02T09:31:00+00:00",
        "2026-03-02T10:31:00+01:00",
        "2026-03-02T04:31:00.000-05:00",
    ],
)
def test_one_instant_written_several_ways_is_one_identity(spelling: str) -> None:
    assert identity("svc", accepted(at=spelling), "iss", "t") == identity(
        "svc", accepted(), "iss", "t"
    )
    assert outcome_instant(spelling) == datetime(2026, 3, 2, 9, 31, tzinfo=UTC)


def test_accepted_suggestions_are_a_set() -> None:
    assert identity("svc", accepted(ids=("b", "a", "b")), None, None) == identity(
        "svc", accepted(ids=("a", "b")), None, None
    )


@pytest.mark.parametrize(
    "change",
    [
        {"card": "c2"},
        {"outcomeTimestamp": "2026-03-02T09:31:01Z"},
        {"acceptedSuggestions": [{"id": "s2"}]},
        {"outcome": "overridden", "acceptedSuggestions": []},
    ],
)
def test_what_makes_a_different_feedback(change: dict) -> None:
    assert identity("svc", {**accepted(), **change}, None, None) != identity(
        "svc", accepted(), None, None
    )


def test_caller_and_service_scope_the_identity() -> None:
    base = identity("svc", accepted(), "iss", "t")
    assert identity("svc", accepted(), "other-iss", "t") != base
    assert identity("svc", accepted(), "iss", "other-tenant") != base
    assert identity("other-svc", accepted(), "iss", "t") != base


def test_override_reason_is_not_part_of_the_identity() -> None:
    item = {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-03-02T09:31:00Z"}
    with_reason = {**item, "overrideReason": {"userComment": "not now"}}
    assert identity("svc", item, None, None) == identity("svc", with_reason, None, None)


def test_row_keeps_the_coded_reason_and_comment() -> None:
    item = {
        "card": "c",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-03-02T09:31:00Z",
        "overrideReason": {
            "reason": {"system": "http://x", "code": "patient-refuses"},
            "userComment": "later",
        },
    }
    row = feedback_row("svc", item, "iss", None, NOW)
    assert (row["reason_system"], row["reason_code"], row["reason_display"]) == (
        "http://x",
        "patient-refuses",
        None,
    )
    assert row["user_comment"] == "later" and row["accepted_suggestions"] is None
    assert row["received_at"] == NOW and row["tenant"] is None


def test_repeats_within_one_request_become_one_row() -> None:
    rows = feedback_rows(
        "svc",
        [accepted(), accepted("c2"), accepted(at="2026-03-02T09:31:00+00:00")],
        None,
        None,
        NOW,
    )
    assert [r["card_uuid"] for r in rows] == ["c1", "c2"]


def test_a_timestamp_without_offset_is_refused() -> None:
    with pytest.raises(ValueError, match="offset"):
        outcome_instant("2026-03-02T09:31:00")


@settings(max_examples=60, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.timezones(),
    ).filter(lambda d: d.utcoffset() is not None and d.utcoffset().seconds % 60 == 0)
)
def test_identity_depends_on_the_instant_only(moment: datetime) -> None:
    local = moment.isoformat()
    utc = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert identity("svc", accepted(at=local), None, None) == identity(
        "svc", accepted(at=utc), None, None
    )
