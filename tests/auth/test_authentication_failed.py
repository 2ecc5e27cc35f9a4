"""AuthenticationFailed carries a machine reason and nothing a client could learn from."""

from __future__ import annotations

from typing import get_args

from cds_service.auth.authentication_failed import AuthenticationFailed, Reason


def test_the_reason_is_the_message_and_an_attribute() -> None:
    failure = AuthenticationFailed("replayed-jti")

    assert failure.reason == "replayed-jti"
    assert str(failure) == "replayed-jti"


def test_the_reasons_named_by_the_issue_exist_and_are_distinct() -> None:
    reasons = get_args(Reason)

    assert {"untrusted-iss", "bad-aud", "replayed-jti", "untrusted-jku"} <= set(reasons)
    assert len(reasons) == len(set(reasons))
