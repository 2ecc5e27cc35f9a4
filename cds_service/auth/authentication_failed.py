"""The one exception every refused CDS client JWT raises."""

from __future__ import annotations

from typing import Literal

#: Machine reasons, for the log only: the HTTP answer is a bare 401.
Reason = Literal[
    "missing-token",
    "malformed-token",
    "forbidden-alg",
    "alg-not-allowed",
    "bad-typ",
    "missing-kid",
    "untrusted-iss",
    "untrusted-jku",
    "unknown-kid",
    "jwks-unavailable",
    "bad-key",
    "bad-signature",
    "bad-aud",
    "bad-claims",
    "expired",
    "iat-in-future",
    "nbf-in-future",
    "lifetime-too-long",
    "tenant-not-allowed",
    "replayed-jti",
    "replay-cache-unavailable",
    "replay-cache-full",
]


class AuthenticationFailed(Exception):
    """A CDS client JWT was refused; ``reason`` says why, for the log and never for the client."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason
