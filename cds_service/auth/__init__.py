"""Authentication of CDS clients (EHRs) by the JWT they send with every CDS call."""

from cds_service.auth.audience import audience_url
from cds_service.auth.authentication_failed import AuthenticationFailed
from cds_service.auth.client_authenticator import ClientAuthenticator
from cds_service.auth.client_identity import ClientIdentity
from cds_service.auth.trusted_client import TrustFileError

__all__ = [
    "AuthenticationFailed",
    "ClientAuthenticator",
    "ClientIdentity",
    "TrustFileError",
    "audience_url",
]
