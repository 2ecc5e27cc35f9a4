"""The JWT ``aud`` of a Radix endpoint, and the comparison of two audiences."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


def audience_url(public_base_url: str, path: str) -> str:
    """The URL an EHR calls for ``path`` (``/cds-services/x``) under the public base URL."""
    return public_base_url.rstrip("/") + "/" + path.lstrip("/")


def normalise_audience(url: str) -> str:
    """Lower-case scheme and host, drop a default port, a fragment and a trailing slash.

    EHR administrators type audiences by hand, so these harmless differences must not refuse a call;
    the path itself stays case-sensitive.
    """
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return text  # unparseable (bad port, broken IPv6 literal): matches nothing but itself
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    if parts.username is not None:
        # Credentials never belong in an audience; keeping them makes such an aud never match.
        netloc = f"{parts.username}@{netloc}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))
