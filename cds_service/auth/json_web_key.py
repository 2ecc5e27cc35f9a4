"""Public JSON Web Keys (RFC 7517): reading a key set and turning one key into a verifier."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jwt
import orjson

#: Asymmetric JWS algorithms: CDS Hooks 2.0 ("Trusting CDS Clients") forbids none and HMAC.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"}
)
_PUBLIC_KEY_TYPES = frozenset({"EC", "RSA", "OKP"})
# Members that only a private or symmetric key has: a set carrying them is a leak or a trap.
_SECRET_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


def jwk_problem(jwk: object) -> str | None:
    """Why ``jwk`` cannot serve as a public signature-verification key, or None if it can."""
    if not isinstance(jwk, Mapping):
        return "a key is not a JSON object"
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        return "a key has no 'kid'"
    if jwk.get("kty") not in _PUBLIC_KEY_TYPES:
        return f"key {kid!r}: 'kty' must be one of {sorted(_PUBLIC_KEY_TYPES)}"
    if _SECRET_MEMBERS & jwk.keys():
        return f"key {kid!r} holds private or symmetric key material"
    if jwk.get("use", "sig") != "sig":
        return f"key {kid!r} is not a signature key ('use' is {jwk.get('use')!r})"
    alg = jwk.get("alg")
    if alg is not None and alg not in ASYMMETRIC_ALGORITHMS:
        return f"key {kid!r}: 'alg' {alg!r} is not an asymmetric signature algorithm"
    return None


def parse_jwks(document: object) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The usable keys of a JWK Set by ``kid``, and the problems of the keys left out."""
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        return {}, ["not a JWK Set (a JSON object with a 'keys' array)"]
    keys: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for jwk in document["keys"]:
        problem = jwk_problem(jwk)
        if problem is None and jwk["kid"] in keys:
            problem = f"key {jwk['kid']!r} appears twice"
        if problem is not None:
            problems.append(problem)
            continue
        keys[jwk["kid"]] = dict(jwk)
    return keys, problems


def signing_key(jwk: Mapping[str, Any], alg: str) -> jwt.PyJWK:
    """The verifier of ``alg`` signatures made with ``jwk``; raises ``jwt.PyJWTError`` if unfit.

    The key type, curve and RSA size must suit ``alg``, so a token cannot pick a weaker reading.
    """
    if alg not in ASYMMETRIC_ALGORITHMS:
        raise jwt.InvalidAlgorithmError(f"{alg!r} is not an asymmetric algorithm")
    if jwk.get("alg", alg) != alg:
        raise jwt.InvalidKeyError(f"the key is for {jwk.get('alg')!r}, not {alg!r}")
    try:
        canonical = orjson.dumps(dict(jwk), option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise jwt.InvalidKeyError(str(exc)) from exc
    return _verifier(canonical, alg)


# Every authenticated call verifies with one of a few keys: building the key object from its
# JWK (base64 numbers, an OpenSSL key, its checks) cost as much as the signature check itself.
# Keyed by the JWK's content, so a key rotated under the same kid is a new entry; keys are
# public, and a key that fails is never kept (an exception is not cached).
@functools.lru_cache(maxsize=256)
def _verifier(canonical: bytes, alg: str) -> jwt.PyJWK:
    try:
        key = jwt.PyJWK(orjson.loads(canonical), algorithm=alg)
        key.Algorithm.prepare_key(key.key)
    except (ValueError, TypeError, KeyError) as exc:
        raise jwt.InvalidKeyError(str(exc)) from exc
    too_short = key.Algorithm.check_key_length(key.key)
    if too_short:
        raise jwt.InvalidKeyError(too_short)
    return key
