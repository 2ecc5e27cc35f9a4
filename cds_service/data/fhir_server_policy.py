"""Which FHIR server URLs Radix may fetch from: http(s) only, never link-local or metadata."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from cds_service.errors import ServiceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance-metadata endpoints that are not link-local (AWS IPv6, Alibaba, Oracle legacy).
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)


class UntrustedFhirServer(ServiceError):
    """The ``fhirServer`` (or a link from it) points somewhere Radix must not fetch."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            400,
            "security",
            f"The fhirServer is not acceptable: {reason}.",
            kind="untrusted-fhir-server",
        )
        self.reason = reason


@dataclass(frozen=True)
class FhirServerPolicy:
    allow_loopback: bool = False
    allow_private: bool = False

    def check_url(self, url: str) -> tuple[str, int]:
        """Check the URL's form; return (host, port) to resolve. Raises ``UntrustedFhirServer``."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise UntrustedFhirServer("only http and https URLs are fetched")
        if parts.username or parts.password:
            raise UntrustedFhirServer("credentials in the URL are not accepted")
        if not parts.hostname:
            raise UntrustedFhirServer("the URL has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise UntrustedFhirServer("the URL has an invalid port") from None
        return parts.hostname, port

    def check_address(self, address: IPAddress) -> None:
        """Refuse addresses no CDS service should reach on an EHR's behalf."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if address in _METADATA_ADDRESSES or address.is_link_local:
            raise UntrustedFhirServer("link-local and cloud-metadata addresses are never fetched")
        if address.is_loopback:  # before is_reserved: ::1 lies in the reserved ::/8
            if not self.allow_loopback:
                raise UntrustedFhirServer("loopback addresses are not allowed")
            return
        if address.is_unspecified or address.is_multicast or address.is_reserved:
            raise UntrustedFhirServer("the address is not a unicast host address")
        if address.is_private and not self.allow_private:
            raise UntrustedFhirServer("private network addresses are not allowed")

    async def check(self, url: str) -> None:
        """Check the URL and every address its host resolves to."""
        host, port = self.check_url(url)
        for address in await _resolve(host, port):
            self.check_address(address)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UntrustedFhirServer("the host name does not resolve") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
