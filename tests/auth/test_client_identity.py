"""ClientIdentity is an immutable value the app can log and pass along."""

from __future__ import annotations

import dataclasses

import pytest

from cds_service.auth.client_identity import ClientIdentity


def test_an_identity_is_frozen_and_compares_by_value() -> None:
    identity = ClientIdentity(iss="https://ehr.example", tenant=None, jti="j1")

    assert identity == ClientIdentity("https://ehr.example", None, "j1", None)
    assert identity.sub is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.iss = "https://evil.example"  # type: ignore[misc]
