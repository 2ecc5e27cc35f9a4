"""Which FHIR server URLs Radix may fetch from: http(s) only, never link-local or metadata."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cds_service.errors import ServiceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port) -> addresses``; tests inject one to play a rebinding DNS server.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

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


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The operating system's resolver (``getaddrinfo``), run off the event loop."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise UntrustedFhirServer("the host name does not resolve") from None
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


@dataclass(frozen=True)
class FhirServerPolicy:
    allow_loopback: bool = False
    allow_private: bool = False
    #: Host names (lower case) that may be fetched from; empty means any host whose every
    #: address passes ``check_address``.
    allowed_hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=system_resolver, compare=False, repr=False)

    def check_url(self, url: str) -> tuple[str, int]:
        """Check the URL's form; return (host, port) to resolve. Raises ``UntrustedFhirServer``."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UntrustedFhirServer("the URL is malformed or has an invalid port") from None
        if parts.scheme not in ("http", "https"):
            raise UntrustedFhirServer("only http and https URLs are fetched")
        if parts.username or parts.password:
            raise UntrustedFhirServer("credentials in the URL are not accepted")
        if not parts.hostname:
            raise UntrustedFhirServer("the URL has no host")
        if self.allowed_hosts and parts.hostname.lower() not in self.allowed_hosts:
            # Checked before any DNS query: an unlisted name is never even looked up.
            raise UntrustedFhirServer("the host is not in RADIX_FHIR_SERVER_HOSTS")
        return parts.hostname, port or (443 if parts.scheme == "https" else 80)

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

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` and return its addresses, all checked; refuse if any one fails.

        One bad address refuses the host: a name that also points at metadata is hostile.
        """
        try:
            found = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            found = await self.resolver(host, port)
        if not found:
            raise UntrustedFhirServer("the host name does not resolve")
        for address in found:
            self.check_address(address)
        return found

    async def check(self, url: str) -> None:
        """Check the URL and every address its host resolves to."""
        await self.addresses(*self.check_url(url))
