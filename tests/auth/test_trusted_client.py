"""The trusted-clients file: what it may say, and the start-up error when it says it wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.auth.trusted_client import (
    DEFAULT_ALGORITHMS,
    TrustFileError,
    load_trusted_clients,
)
from tests.auth.conftest import SigningKey, jwks_of

SANDBOX_FILE = Path(__file__).parents[2] / "deploy" / "trusted-clients" / "cds-hooks-sandbox.json"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"


def _write(folder: Path, document: Any, name: str = "trusted-clients.json") -> Path:
    path = folder / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_the_shipped_sandbox_file_trusts_the_sandbox_key_and_jku_with_es384_only() -> None:
    clients = load_trusted_clients(SANDBOX_FILE)

    sandbox = clients[SANDBOX_ISS]
    assert set(clients) == {SANDBOX_ISS}
    assert sandbox.algorithms == {"ES384"}
    assert sandbox.jku == {"https://sandbox.cds-hooks.org/.well-known/jwks.json"}
    assert sandbox.keys[SANDBOX_KID]["crv"] == "P-384"
    assert sandbox.tenants is None


def test_a_full_entry_is_read(tmp_path: Path, es384_key: SigningKey, rs384_key: SigningKey) -> None:
    _write(tmp_path, jwks_of(rs384_key), "epic-keys.json")
    path = _write(
        tmp_path,
        {
            "description": "test",
            "clients": [
                {
                    "iss": "https://ehr-a.example/fhir",
                    "jku": ["https://ehr-a.example/jwks.json"],
                    "algorithms": ["RS384"],
                    "tenants": ["site-1", "site-2"],
                },
                {"iss": "https://ehr-b.example", "jwks": jwks_of(es384_key)},
                {"iss": "https://ehr-c.example", "jwks_file": "epic-keys.json"},
            ],
        },
    )

    clients = load_trusted_clients(path)

    a, b, c = (
        clients[f"https://ehr-{x}.example{p}"] for x, p in [("a", "/fhir"), ("b", ""), ("c", "")]
    )
    assert a.algorithms == {"RS384"} and a.tenants == {"site-1", "site-2"} and not a.keys
    assert b.algorithms == DEFAULT_ALGORITHMS == {"ES384", "RS384"} and b.tenants is None
    assert set(b.keys) == {es384_key.kid} and not b.jku
    assert set(c.keys) == {rs384_key.kid}


def test_loopback_http_jku_is_allowed_for_development(tmp_path: Path) -> None:
    path = _write(
        tmp_path, {"clients": [{"iss": "dev", "jku": ["http://127.0.0.1:9000/jwks.json"]}]}
    )

    assert load_trusted_clients(path)["dev"].jku == {"http://127.0.0.1:9000/jwks.json"}


_P256 = SigningKey(ec.generate_private_key(ec.SECP256R1()), "ES256", "p256").public_jwk


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ("{not json", "is not valid JSON"),
        ([], "top level must be a JSON object"),
        ({"client": []}, "unknown member(s) ['client']"),
        ({"clients": {}}, "'clients' must be an array"),
        ({"clients": ["x"]}, "clients[0] must be a JSON object"),
        ({"clients": [{"jku": ["https://a/j"]}]}, "clients[0]: 'iss' must be a non-empty string"),
        ({"clients": [{"iss": "a"}]}, "give 'jku' (allowlisted JWKS URLs) or 'jwks' / 'jwks_file'"),
        (
            {"clients": [{"iss": "a", "jku": ["https://a/j"], "tenant": ["x"]}]},
            "unknown member(s) ['tenant']",
        ),
        (
            {
                "clients": [
                    {"iss": "a", "jku": ["https://a/j"]},
                    {"iss": "a", "jku": ["https://a/j"]},
                ]
            },
            "issuer 'a' is listed twice",
        ),
        ({"clients": [{"iss": "a", "jku": "https://a/j"}]}, "'jku' must be an array"),
        ({"clients": [{"iss": "a", "jku": ["http://a.example/j"]}]}, "must use https"),
        ({"clients": [{"iss": "a", "jku": ["/jwks.json"]}]}, "is not an absolute URL"),
        (
            {"clients": [{"iss": "a", "jku": ["https://a/j"], "algorithms": ["HS256", "ES384"]}]},
            "'algorithms' ['HS256'] refused",
        ),
        (
            {"clients": [{"iss": "a", "jku": ["https://a/j"], "algorithms": ["none"]}]},
            "'algorithms' ['none'] refused",
        ),
        (
            {"clients": [{"iss": "a", "jku": ["https://a/j"], "algorithms": []}]},
            "must not be empty",
        ),
        ({"clients": [{"iss": "a", "jku": ["https://a/j"], "tenants": "x"}]}, "'tenants' must be"),
        ({"clients": [{"iss": "a", "jwks": {"keys": []}}]}, "'jwks' has no keys"),
        ({"clients": [{"iss": "a", "jwks": {"k": []}}]}, "not a JWK Set"),
        (
            {
                "clients": [
                    {"iss": "a", "jwks": {"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}}
                ]
            },
            "'kty' must be one of",
        ),
        (
            {"clients": [{"iss": "a", "jwks": {"keys": [{**_P256, "d": "eA"}]}}]},
            "holds private or symmetric key material",
        ),
        ({"clients": [{"iss": "a", "jwks": {"keys": [_P256]}}]}, "verifies none of the allowed"),
        ({"clients": [{"iss": "a", "jwks_file": "missing.json"}]}, "missing.json cannot be used"),
        (
            {"clients": [{"iss": "a", "jwks": {"keys": [_P256]}, "jwks_file": "k.json"}]},
            "not both",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_file_is_refused_naming_the_file_and_the_problem(
    tmp_path: Path, document: Any, problem: str
) -> None:
    path = _write(tmp_path, document)

    with pytest.raises(TrustFileError) as refused:
        load_trusted_clients(path)

    assert str(refused.value).startswith(f"trusted clients file {path}: ")
    assert problem in str(refused.value)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(TrustFileError, match=r"nowhere\.json: cannot be read"):
        load_trusted_clients(tmp_path / "nowhere.json")
