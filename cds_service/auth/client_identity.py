"""Who called: the verified claims of an accepted CDS client JWT."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClientIdentity:
    """The issuer, tenant and token id of an authenticated CDS client (EHR)."""

    iss: str
    tenant: str | None
    jti: str
    sub: str | None = None
