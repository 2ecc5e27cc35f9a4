"""Public JWKs: which keys a set may hold, and which key may verify which algorithm."""

from __future__ import annotations

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from cds_service.auth.json_web_key import jwk_problem, parse_jwks, signing_key
from tests.auth.conftest import SigningKey


def test_a_set_yields_its_keys_by_kid(es384_key: SigningKey, rs384_key: SigningKey) -> None:
    keys, problems = parse_jwks({"keys": [es384_key.public_jwk, rs384_key.public_jwk]})

    assert set(keys) == {es384_key.kid, rs384_key.kid} and problems == []


def test_a_duplicated_kid_keeps_the_first_and_reports_the_second(
    es384_key: SigningKey, other_es384_key: SigningKey
) -> None:
    twin = {**other_es384_key.public_jwk, "kid": es384_key.kid}

    keys, problems = parse_jwks({"keys": [es384_key.public_jwk, twin]})

    assert keys[es384_key.kid]["x"] == es384_key.public_jwk["x"]
    assert problems == [f"key {es384_key.kid!r} appears twice"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"kid": None}, "no 'kid'"),
        ({"kty": "oct"}, "'kty' must be one of"),
        ({"d": "eA"}, "private or symmetric key material"),
        ({"k": "eA"}, "private or symmetric key material"),
        ({"use": "enc"}, "not a signature key"),
        ({"alg": "HS256"}, "not an asymmetric signature algorithm"),
        ({"alg": "none"}, "not an asymmetric signature algorithm"),
    ],
)
def test_keys_unfit_for_verification_are_named(
    es384_key: SigningKey, change: dict, problem: str
) -> None:
    jwk = {k: v for k, v in {**es384_key.public_jwk, **change}.items() if v is not None}

    assert problem in (jwk_problem(jwk) or "")
    assert jwk_problem(es384_key.public_jwk) is None
    assert jwk_problem("not a key") == "a key is not a JSON object"


@pytest.mark.parametrize(
    ("private", "alg"),
    [
        (ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (rsa.generate_private_key(65537, 2048), "RS384"),
        (rsa.generate_private_key(65537, 2048), "PS384"),
        (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
    ],
    ids=["ES384", "ES256", "RS384", "PS384", "EdDSA"],
)
def test_a_fitting_key_verifies_its_algorithm(private: object, alg: str) -> None:
    key = SigningKey(private, alg, "k")
    token = key.sign({"sub": "x"})

    verifier = signing_key(key.public_jwk, alg)

    assert jwt.PyJWS().decode(token, key=verifier, algorithms=[alg]) == b'{"sub":"x"}'


def test_a_keys_verifier_is_built_once_and_a_rotated_key_gets_its_own(
    rs384_key: SigningKey,
) -> None:
    """Verifiers are kept by the key's content: the same JWK (in any member order) gives the
    same verifier; a new key under the same kid verifies its own tokens, not the old key's."""
    jwk = rs384_key.public_jwk
    same = dict(reversed(list(jwk.items())))
    assert signing_key(jwk, "RS384") is signing_key(same, "RS384")

    rotated = SigningKey(rsa.generate_private_key(65537, 2048), "RS384", rs384_key.kid)
    verifier = signing_key(rotated.public_jwk, "RS384")
    assert verifier is not signing_key(jwk, "RS384")
    assert jwt.PyJWS().decode(rotated.sign({"sub": "x"}), key=verifier, algorithms=["RS384"])
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.PyJWS().decode(rs384_key.sign({"sub": "x"}), key=verifier, algorithms=["RS384"])


def test_unfit_pairings_of_key_and_algorithm_are_refused(
    es384_key: SigningKey, rs384_key: SigningKey
) -> None:
    p256 = SigningKey(ec.generate_private_key(ec.SECP256R1()), "ES256", "p256").public_jwk
    unlabelled_p256 = {k: v for k, v in p256.items() if k != "alg"}
    short_rsa = SigningKey(rsa.generate_private_key(65537, 1024), "RS384", "short").public_jwk
    for jwk, alg in [
        (es384_key.public_jwk, "RS384"),  # key labelled for another algorithm
        ({**es384_key.public_jwk, "alg": "RS384"}, "RS384"),  # EC key read as RSA
        (unlabelled_p256, "ES384"),  # wrong curve
        (short_rsa, "RS384"),  # below 2048 bits
        (rs384_key.public_jwk, "HS384"),  # never HMAC
        (rs384_key.public_jwk, "none"),
    ]:
        for _ in range(2):  # and again: a refusal is not remembered as a verifier
            with pytest.raises(jwt.PyJWTError):
                signing_key(jwk, alg)
