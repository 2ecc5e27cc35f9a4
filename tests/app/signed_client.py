"""An EHR with a real signing key and a trust file naming it, for tests over real HTTP."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from tests.auth.conftest import SigningKey, write_trust_file

PUBLIC = "https://radix.example.org"
ISSUER = "https://ehr.example.org/fhir"


@dataclass
class SignedClient:
    """Signs a fresh CDS client JWT for each call, for ``ISSUER`` and a tenant of its own."""

    trust_file: Path
    key: SigningKey = field(
        default_factory=lambda: SigningKey(
            ec.generate_private_key(ec.SECP384R1()), "ES384", "ehr-" + uuid.uuid4().hex[:8]
        )
    )

    @classmethod
    def in_folder(cls, folder: Path, tenants: list[str]) -> SignedClient:
        client = cls(trust_file=folder / "unused")
        client.trust_file = write_trust_file(folder, ISSUER, client.key, tenants)
        return client

    def headers(self, path: str, tenant: str = "site-a", **claims: Any) -> dict[str, str]:
        now = int(datetime.now(UTC).timestamp())
        body = {
            "iss": ISSUER,
            "aud": PUBLIC + path,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
            "tenant": tenant,
            **claims,
        }
        return {"Authorization": f"Bearer {self.key.sign(body, typ='JWT')}"}

    def settings(self) -> dict[str, Any]:
        """The settings that make the app trust this client."""
        return {
            "auth_required": True,
            "trusted_clients_file": self.trust_file,
            "public_base_url": PUBLIC,
        }
