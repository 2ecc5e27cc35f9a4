"""Which ``next`` links Radix follows: only ones on the FHIR server the EHR named, below its base.

The EHR's bearer token goes with every page, so a link must not lead anywhere else. A string
prefix is not enough: ``…/fhir-evil/…`` starts with ``…/fhir``, and ``…/fhir/../../admin`` does
too until the HTTP client (or the server, for ``%2e%2e`` and ``..%2f``) resolves the dots. So
the link is judged as the server could read it, and the URL fetched is the one judged:

- origin: same scheme, host (case-insensitive) and port (default ports filled in), and no
  userinfo;
- path: split into segments with dot segments resolved (RFC 3986 §5.2.4), both as written and
  with percent-escapes decoded (repeatedly, so ``%252e`` counts) and ``\\`` read as ``/``; each
  reading must lie at or below the base path, segment by segment;
- anything odd (spaces, control characters, a backslash, a malformed port) is refused outright.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urljoin, urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ODD = re.compile(r"[\x00-\x20\x7f\\]")
_MAX_DECODING_ROUNDS = 4


def follow_url(link: str, base: str) -> str | None:
    """The URL to fetch for ``link`` (absolute or relative to ``base``), or None to refuse it."""
    if _ODD.search(link):
        return None
    origin = _origin(base)
    base_segments = _base_segments(base)
    if origin is None or base_segments is None:
        return None
    try:
        parts = urlsplit(urljoin(base.rstrip("/") + "/", link))
    except ValueError:
        return None
    if _origin(parts.geturl()) != origin or "@" in parts.netloc:
        return None
    written = _resolve(parts.path.split("/"))
    decoded = _decoded(parts.path)
    if decoded is None or not all(
        reading[: len(base_segments)] == base_segments for reading in (written, decoded)
    ):
        return None
    scheme, _host, _port = origin
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{urlsplit(base).netloc}/{'/'.join(written)}{query}"


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.username is not None:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def _base_segments(base: str) -> list[str] | None:
    segments = _resolve(urlsplit(base).path.split("/"))
    while segments and segments[-1] == "":
        segments.pop()  # "/fhir/" and "/fhir" are the same base
    return segments


def _decoded(path: str) -> list[str] | None:
    """The path's segments as a server that decodes escapes (perhaps twice) would see them."""
    for _ in range(_MAX_DECODING_ROUNDS):
        once = unquote(path)
        if once == path:
            return _resolve(path.replace("\\", "/").split("/"))
        path = once
    return None  # still changing: nobody legitimate encodes a path four times over


def _resolve(segments: list[str]) -> list[str]:
    """Remove ``.`` and ``..`` from a path split on ``/`` (RFC 3986 §5.2.4)."""
    if segments[:1] == [""]:
        segments = segments[1:]  # the path's leading slash
    out: list[str] = []
    for index, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and out:
                out.pop()
            if index == len(segments) - 1:
                out.append("")  # "/a/b/.." is "/a/", a directory
        else:
            out.append(segment)
    return out
