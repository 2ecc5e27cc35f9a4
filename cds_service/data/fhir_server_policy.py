"""Which FHIR server URLs Radix may fetch from: http(s), and only globally reachable addresses.

The address rules follow the IANA special-purpose address registries, written out here rather
than taken from ``ipaddress``'s ``is_global``, whose tables change between Python releases
(3.11.7 calls 192.0.0.8, fec0::1 and 2002:a9fe:a9fe::1 global). In order:

1. Cloud metadata endpoints, link-local, shared carrier-grade NAT (100.64.0.0/10) and
   deprecated site-local (fec0::/10) addresses: never, whatever is configured.
2. IPv6 forms that carry an IPv4 address (IPv4-mapped, NAT64, 6to4, Teredo) are judged by the
   IPv4 address a packet would really reach; see ``_embedded_ipv4``.
3. Loopback only with ``allow_loopback``; RFC 1918 and ULA (fc00::/7) only with
   ``allow_private``.
4. Anything else must be global unicast: IPv4 outside every special-purpose range, IPv6 inside
   2000::/3 and outside its documentation and protocol-assignment blocks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cds_service.data.resolver import DEFAULT_RESOLVER, IPAddress, LookupFailed
from cds_service.errors import UntrustedFhirServer

#: ``(host, port) -> addresses``; tests inject one to play a rebinding DNS server.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(*cidrs: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


def _within(address: IPAddress, networks: Iterable[Network]) -> bool:
    return any(address in network for network in networks)


# Instance-metadata and platform endpoints; most are link-local anyway, listed to be explicit.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure IMDS, OpenStack, DigitalOcean, Oracle, …
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (legacy)
        "168.63.129.16",  # Azure WireServer (a public address, so listed by hand)
    )
)
_LINK_LOCAL = _networks("169.254.0.0/16", "fe80::/10")
_NEVER: tuple[tuple[Network, str], ...] = (
    (ipaddress.ip_network("100.64.0.0/10"), "shared (carrier-grade NAT) addresses"),
    (ipaddress.ip_network("fec0::/10"), "site-local addresses"),
)
_LOOPBACK = _networks("127.0.0.0/8", "::1/128")
_PRIVATE = _networks("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
_NOT_GLOBAL_V4 = _networks(
    "0.0.0.0/8",  # "this network"
    "192.0.0.0/24",  # IETF protocol assignments (DS-Lite, NAT64 discovery, …)
    "192.0.2.0/24",  # documentation
    "192.88.99.0/24",  # deprecated 6to4 relay anycast
    "198.18.0.0/15",  # benchmarking
    "198.51.100.0/24",  # documentation
    "203.0.113.0/24",  # documentation
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the broadcast address
)
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_NOT_GLOBAL_V6 = _networks(
    "2001::/23",  # IETF protocol assignments (Teredo, 2001::/32, is decoded before this)
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[str, list[ipaddress.IPv4Address]]:
    """The IPv4 addresses packets for ``address`` would be delivered to, and the form's name.

    NAT64 (RFC 6052): the well-known prefix carries the address in its last 32 bits. A
    local-use prefix (64:ff9b:1::/48, RFC 8215) may be any length from /48 to /96, each placing
    the address elsewhere; every placement is decoded, since the gateway's is not known here.
    6to4 (RFC 3056) and Teredo (RFC 4380, server and client) as ``ipaddress`` decodes them.
    """
    if address in _NAT64:
        return "NAT64", [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address in _NAT64_LOCAL:
        return "local-use NAT64", [_rfc6052(address, length) for length in (96, 48, 56, 64)]
    if address.sixtofour is not None:
        return "6to4", [address.sixtofour]
    if address.teredo is not None:
        return "Teredo", list(address.teredo)
    return "", []


def _rfc6052(address: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address in ``address`` for a NAT64 prefix of that length (bits 64-71 skipped)."""
    value = int(address)

    def bits(start: int, end: int) -> int:
        return (value >> (128 - end)) & ((1 << (end - start)) - 1)

    if prefix_length == 96:
        return ipaddress.IPv4Address(bits(96, 128))
    if prefix_length == 64:
        return ipaddress.IPv4Address(bits(72, 104))
    ahead = 64 - prefix_length  # bits of the IPv4 address before the reserved octet
    return ipaddress.IPv4Address((bits(prefix_length, 64) << (32 - ahead)) | bits(72, 104 - ahead))


@dataclass(frozen=True)
class FhirServerPolicy:
    allow_loopback: bool = False
    allow_private: bool = False
    #: Host names (lower case) that may be fetched from; empty means any host whose every
    #: address passes ``check_address``.
    allowed_hosts: frozenset[str] = frozenset()
    resolver: Resolver = field(default=DEFAULT_RESOLVER, compare=False, repr=False)

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
            address = address.ipv4_mapped  # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket
        _refuse_never_fetched(address)
        if isinstance(address, ipaddress.IPv6Address):
            form, embedded = _embedded_ipv4(address)
            if form:
                self._check_embedded(form, embedded)
                return
        if _within(address, _LOOPBACK):
            if not self.allow_loopback:
                raise UntrustedFhirServer("loopback addresses are not allowed")
            return
        if _within(address, _PRIVATE):
            if not self.allow_private:
                raise UntrustedFhirServer("private network addresses are not allowed")
            return
        if not _is_global_unicast(address):
            raise UntrustedFhirServer("the address is not a globally reachable unicast address")

    def _check_embedded(self, form: str, embedded: list[ipaddress.IPv4Address]) -> None:
        """Each embedded IPv4 address must pass as if it had been given itself.

        6to4, Teredo and the well-known NAT64 prefix only ever carry global addresses (RFC 3056,
        4380, 6052 §3.1), so theirs must be global whatever is allowed. A local-use NAT64 prefix
        serves a private network: allowed like one, its /96 reading judged in full, and every
        other reading must at least not reach metadata, link-local or carrier-grade NAT.
        """
        if form == "local-use NAT64":
            if not self.allow_private:
                raise UntrustedFhirServer("local-use NAT64 addresses are private network addresses")
            judges = [self] + [_NEVER_ONLY] * (len(embedded) - 1)
        else:
            judges = [_GLOBAL_ONLY] * len(embedded)
        for judge, ipv4 in zip(judges, embedded, strict=True):
            try:
                judge.check_address(ipv4)
            except UntrustedFhirServer as exc:
                raise UntrustedFhirServer(f"{form} address of {ipv4}: {exc.reason}") from None

    async def addresses(self, host: str, port: int) -> list[IPAddress]:
        """Resolve ``host`` and return its addresses, all checked; refuse if any one fails.

        One bad address refuses the host: a name that also points at metadata is hostile.
        """
        try:
            found = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                found = await self.resolver(host, port)
            except LookupFailed as exc:
                raise UntrustedFhirServer(exc.reason) from None
        if not found:
            raise UntrustedFhirServer("the host name does not resolve")
        for address in found:
            self.check_address(address)
        return found

    async def check(self, url: str) -> None:
        """Check the URL and every address its host resolves to."""
        await self.addresses(*self.check_url(url))


def _refuse_never_fetched(address: IPAddress) -> None:
    if address in METADATA_ADDRESSES or _within(address, _LINK_LOCAL):
        raise UntrustedFhirServer("link-local and cloud-metadata addresses are never fetched")
    for network, what in _NEVER:
        if address in network:
            raise UntrustedFhirServer(f"{what} ({network}) are never fetched")


def _is_global_unicast(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return not _within(address, _NOT_GLOBAL_V4)
    return address in _GLOBAL_UNICAST_V6 and not _within(address, _NOT_GLOBAL_V6)


class _NeverOnly(FhirServerPolicy):
    """Judges only rule 1: for readings of an address that may well be meaningless bits."""

    def check_address(self, address: IPAddress) -> None:
        _refuse_never_fetched(address)


#: Judges of embedded IPv4 addresses (see ``FhirServerPolicy._check_embedded``).
_GLOBAL_ONLY = FhirServerPolicy()
_NEVER_ONLY = _NeverOnly()
