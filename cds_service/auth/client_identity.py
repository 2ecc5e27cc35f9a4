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
    #: The trusted-clients file asks for the pre-2.0 ``extension.systemActions`` copy.
    legacy_system_actions: bool = False
    #: The trusted-clients file lists this issuer's tenants, so ``tenant`` was checked against
    #: them; otherwise it is whatever the client put in its token.
    tenant_allowlisted: bool = False
