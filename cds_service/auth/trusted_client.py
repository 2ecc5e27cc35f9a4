"""Trusted CDS clients (EHRs): who may call, with which keys, and the file that lists them."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import jwt

from cds_service.auth.json_web_key import ASYMMETRIC_ALGORITHMS, parse_jwks, signing_key

#: ES384 and RS384 are the algorithms CDS Hooks 2.0 recommends ("Trusting CDS Clients").
DEFAULT_ALGORITHMS = frozenset({"ES384", "RS384"})

_FILE_MEMBERS = frozenset({"clients", "description", "$comment"})
_CLIENT_MEMBERS = frozenset(
    {
        "iss",
        "jku",
        "jwks",
        "jwks_file",
        "algorithms",
        "tenants",
        "legacy_system_actions",
        "description",
        "$comment",
    }
)


@dataclass(frozen=True)
class TrustedClient:
    """One issuer (``iss``) Radix accepts, its allowlisted JWKS URLs and pinned keys."""

    iss: str
    algorithms: frozenset[str] = DEFAULT_ALGORITHMS
    #: JWKS URLs this issuer may name in ``jku``; compared exactly, and only these are fetched.
    jku: frozenset[str] = frozenset()
    #: Keys exchanged out of band, by ``kid``; used before any fetch.
    keys: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    #: Allowed ``tenant`` claims; None means the claim is not checked.
    tenants: frozenset[str] | None = None
    #: Also copy ``systemActions`` to the pre-2.0 ``extension.systemActions`` in answers to this
    #: client (the CDS Hooks Sandbox's PAMA screen reads ratings only there).
    legacy_system_actions: bool = False


class TrustFileError(ValueError):
    """The trusted-clients file cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"trusted clients file {path}: {problem}")
        self.path = path
        self.problem = problem


def load_trusted_clients(path: Path) -> dict[str, TrustedClient]:
    """Read and check the trusted-clients file; raise ``TrustFileError`` on any problem."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrustFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TrustFileError(path, f"is not valid JSON ({exc})") from exc
    try:
        return _clients(document, path.parent)
    except _Problem as exc:
        raise TrustFileError(path, str(exc)) from None


class _Problem(Exception):
    pass


def _clients(document: object, folder: Path) -> dict[str, TrustedClient]:
    if not isinstance(document, dict):
        raise _Problem("the top level must be a JSON object with a 'clients' array")
    _no_unknown_members(document, _FILE_MEMBERS, "the top level")
    entries = document.get("clients")
    if not isinstance(entries, list):
        raise _Problem("'clients' must be an array")
    clients: dict[str, TrustedClient] = {}
    for index, entry in enumerate(entries):
        client = _client(entry, f"clients[{index}]", folder)
        if client.iss in clients:
            raise _Problem(f"clients[{index}]: issuer {client.iss!r} is listed twice")
        clients[client.iss] = client
    return clients


def _client(entry: object, where: str, folder: Path) -> TrustedClient:
    if not isinstance(entry, dict):
        raise _Problem(f"{where} must be a JSON object")
    _no_unknown_members(entry, _CLIENT_MEMBERS, where)
    iss = entry.get("iss")
    if not isinstance(iss, str) or not iss.strip():
        raise _Problem(f"{where}: 'iss' must be a non-empty string")
    where = f"{where} ({iss})"
    algorithms = _algorithms(entry.get("algorithms"), where)
    jku = frozenset(_strings(entry.get("jku", []), f"{where}: 'jku'"))
    for url in jku:
        _check_jku(url, where)
    keys = _static_keys(entry, where, folder)
    for kid, jwk in keys.items():
        _check_key_fits(jwk, kid, algorithms, where)
    if not jku and not keys:
        raise _Problem(f"{where}: give 'jku' (allowlisted JWKS URLs) or 'jwks' / 'jwks_file'")
    tenants = entry.get("tenants")
    legacy = entry.get("legacy_system_actions", False)
    if not isinstance(legacy, bool):
        raise _Problem(f"{where}: 'legacy_system_actions' must be true or false")
    return TrustedClient(
        iss=iss,
        algorithms=algorithms,
        jku=jku,
        keys=MappingProxyType(keys),
        tenants=None if tenants is None else frozenset(_strings(tenants, f"{where}: 'tenants'")),
        legacy_system_actions=legacy,
    )


def _no_unknown_members(entry: dict[str, Any], known: frozenset[str], where: str) -> None:
    # A misspelt member (say "tenant" for "tenants") would silently weaken a check.
    unknown = sorted(set(entry) - known)
    if unknown:
        raise _Problem(f"{where}: unknown member(s) {unknown}; expected some of {sorted(known)}")


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Problem(f"{where} must be an array of non-empty strings")
    return value


def _algorithms(value: object, where: str) -> frozenset[str]:
    if value is None:
        return DEFAULT_ALGORITHMS
    algorithms = frozenset(_strings(value, f"{where}: 'algorithms'"))
    if not algorithms:
        raise _Problem(f"{where}: 'algorithms' must not be empty")
    refused = sorted(algorithms - ASYMMETRIC_ALGORITHMS)
    if refused:
        raise _Problem(
            f"{where}: 'algorithms' {refused} refused; CDS Hooks forbids 'none' and HMAC, "
            f"allowed are {sorted(ASYMMETRIC_ALGORITHMS)}"
        )
    return algorithms


def _check_jku(url: str, where: str) -> None:
    parts = urlsplit(url)
    if not parts.hostname:
        raise _Problem(f"{where}: jku {url!r} is not an absolute URL")
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(parts.hostname)):
        return
    raise _Problem(f"{where}: jku {url!r} must use https (plain http only on loopback)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _static_keys(entry: dict[str, Any], where: str, folder: Path) -> dict[str, dict[str, Any]]:
    if "jwks" in entry and "jwks_file" in entry:
        raise _Problem(f"{where}: give 'jwks' or 'jwks_file', not both")
    if "jwks_file" in entry:
        name = entry["jwks_file"]
        if not isinstance(name, str) or not name:
            raise _Problem(f"{where}: 'jwks_file' must be a path")
        jwks_path = folder / name
        try:
            document = json.loads(jwks_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise _Problem(f"{where}: jwks_file {jwks_path} cannot be used ({exc})") from exc
        source = f"jwks_file {jwks_path}"
    elif "jwks" in entry:
        document, source = entry["jwks"], "'jwks'"
    else:
        return {}
    keys, problems = parse_jwks(document)
    if problems:
        raise _Problem(f"{where}: {source}: {'; '.join(problems)}")
    if not keys:
        raise _Problem(f"{where}: {source} has no keys")
    return keys


def _check_key_fits(
    jwk: Mapping[str, Any], kid: str, algorithms: frozenset[str], where: str
) -> None:
    errors = []
    for alg in sorted(algorithms):
        try:
            signing_key(jwk, alg)
        except jwt.PyJWTError as exc:
            errors.append(f"{alg}: {exc}")
        else:
            return
    raise _Problem(
        f"{where}: key {kid!r} verifies none of the allowed algorithms ({'; '.join(errors)})"
    )
