"""Authentication of CDS clients (EHRs) by the JWT they send with every CDS call.

The names below are loaded when first used: the JWT and cryptography stack behind them is
imported only by a service that authenticates (``RADIX_AUTH_REQUIRED``), not by every start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cds_service.facade import lazy_exports

if TYPE_CHECKING:
    from cds_service.auth.audience import audience_url
    from cds_service.auth.authentication_failed import AuthenticationFailed
    from cds_service.auth.client_authenticator import ClientAuthenticator
    from cds_service.auth.client_identity import ClientIdentity
    from cds_service.auth.trusted_client import TrustFileError, load_trusted_clients

__all__ = [
    "AuthenticationFailed",
    "ClientAuthenticator",
    "ClientIdentity",
    "TrustFileError",
    "audience_url",
    "load_trusted_clients",
]

_HOMES = {
    "AuthenticationFailed": "cds_service.auth.authentication_failed",
    "ClientAuthenticator": "cds_service.auth.client_authenticator",
    "ClientIdentity": "cds_service.auth.client_identity",
    "TrustFileError": "cds_service.auth.trusted_client",
    "audience_url": "cds_service.auth.audience",
    "load_trusted_clients": "cds_service.auth.trusted_client",
}


__getattr__ = lazy_exports(__name__, _HOMES)
