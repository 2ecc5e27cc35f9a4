import ipaddress

import pytest

from cds_service.data.fhir_server_policy import FhirServerPolicy
from cds_service.errors import UntrustedFhirServer

STRICT = FhirServerPolicy()
LOOPBACK_OK = FhirServerPolicy(allow_loopback=True)
PRIVATE_OK = FhirServerPolicy(allow_private=True, allow_loopback=True)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://ehr.example.org/fhir",
        "gopher://x",
        "https://user:pw@ehr.example.org/fhir",
        "http:///x",
    ],
)
async def test_only_plain_http_and_https_urls_are_fetched(url):
    with pytest.raises(UntrustedFhirServer):
        await STRICT.check(url)


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "169.254.0.1",
        "fe80::1",
        "fd00:ec2::254",
        "100.100.100.200",
        "::ffff:169.254.169.254",
    ],
)
@pytest.mark.parametrize("policy", [STRICT, PRIVATE_OK])
def test_link_local_and_metadata_addresses_are_never_allowed(address, policy):
    with pytest.raises(UntrustedFhirServer):
        policy.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_loopback_only_when_configured(address):
    with pytest.raises(UntrustedFhirServer):
        STRICT.check_address(ipaddress.ip_address(address))
    LOOPBACK_OK.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.3.4", "192.168.1.1", "fd12::1"])
def test_private_ranges_only_when_configured(address):
    with pytest.raises(UntrustedFhirServer):
        LOOPBACK_OK.check_address(ipaddress.ip_address(address))
    PRIVATE_OK.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["0.0.0.0", "224.0.0.1", "240.0.0.1"])
def test_non_unicast_addresses_are_refused(address):
    with pytest.raises(UntrustedFhirServer):
        PRIVATE_OK.check_address(ipaddress.ip_address(address))


async def test_a_host_name_is_checked_by_every_address_it_resolves_to():
    # "localhost" resolves to loopback without leaving the machine.
    with pytest.raises(UntrustedFhirServer):
        await STRICT.check("http://localhost:8080/fhir")
    await LOOPBACK_OK.check("http://localhost:8080/fhir")


async def test_public_addresses_pass():
    await STRICT.check("https://93.184.215.14/fhir")


def _resolver(answers: dict[str, list[str]], asked: list[str]):
    async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        asked.append(host)
        return [ipaddress.ip_address(a) for a in answers.get(host, [])]

    return resolve


async def test_a_host_outside_the_allowlist_is_refused_before_any_lookup():
    asked: list[str] = []
    policy = FhirServerPolicy(
        allowed_hosts=frozenset({"fhir.hospital.example"}),
        resolver=_resolver({"evil.example": ["93.184.215.14"]}, asked),
    )
    with pytest.raises(UntrustedFhirServer, match="RADIX_FHIR_SERVER_HOSTS"):
        await policy.check("https://evil.example/fhir")
    assert asked == []


async def test_an_allowlisted_host_is_still_checked_address_by_address():
    asked: list[str] = []
    policy = FhirServerPolicy(
        allowed_hosts=frozenset({"fhir.hospital.example"}),
        resolver=_resolver({"fhir.hospital.example": ["10.0.0.7"]}, asked),
    )
    with pytest.raises(UntrustedFhirServer, match="private"):
        await policy.check("https://FHIR.hospital.example/fhir")
    assert asked == ["fhir.hospital.example"]


async def test_one_forbidden_address_among_good_ones_refuses_the_host():
    policy = FhirServerPolicy(
        resolver=_resolver({"mixed.example": ["93.184.215.14", "169.254.169.254"]}, [])
    )
    with pytest.raises(UntrustedFhirServer, match="link-local"):
        await policy.check("https://mixed.example/fhir")


async def test_a_name_without_addresses_is_refused():
    policy = FhirServerPolicy(resolver=_resolver({}, []))
    with pytest.raises(UntrustedFhirServer, match="does not resolve"):
        await policy.check("https://nowhere.example/fhir")


@pytest.mark.parametrize("url", ["http://[::1", "http://host:99999/fhir", "http://host:x/"])
async def test_malformed_urls_are_refused_not_raised(url):
    with pytest.raises(UntrustedFhirServer):
        await STRICT.check(url)


async def test_addresses_returns_what_was_checked():
    policy = FhirServerPolicy(resolver=_resolver({"ehr.example": ["93.184.215.14"]}, []))
    assert await policy.addresses("ehr.example", 443) == [ipaddress.ip_address("93.184.215.14")]


# --- Global addresses only: the ranges and embedded forms of issue 10 -----------------------

TEREDO_TO_10_0_0_1 = "2001:0:4136:e378:8000:63bf:f5ff:fffe"  # server 65.54.227.120
TEREDO_TO_METADATA = "2001:0:4136:e378:8000:63bf:5601:5601"
TEREDO_TO_PUBLIC = "2001:0:4136:e378:8000:63bf:a247:28f1"  # client 93.184.215.14


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # carrier-grade NAT, all of 100.64.0.0/10
        "100.127.255.254",
        "168.63.129.16",  # Azure WireServer: a public address
        "169.254.170.2",  # AWS ECS task metadata
        "fd20:ce::254",  # GCP metadata over IPv6, inside the otherwise allowed ULA range
        "fec0::1",  # deprecated site-local
        "feff:ffff::1",
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1: never, even with loopback allowed
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b::a00:1",  # NAT64 (well-known prefix) of 10.0.0.1
        "64:ff9b::7f00:1",
        "64:ff9b:1::a9fe:a9fe",  # local-use NAT64, /96, of 169.254.169.254
        "64:ff9b:1:a9fe:a9:fe00:808:808",  # local-use /48 reading is 169.254.169.254
        "64:ff9b:1::6440:1",  # local-use NAT64 of 100.64.0.1
        TEREDO_TO_10_0_0_1,
        TEREDO_TO_METADATA,
        "192.0.0.8",  # IETF protocol assignments
        "192.0.0.170",
        "192.0.2.1",  # documentation
        "198.18.0.1",  # benchmarking
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.5",
        "192.88.99.1",  # deprecated 6to4 relay anycast
        "240.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "::a00:1",  # IPv4-compatible (deprecated), not IPv4-mapped
        "ff02::1",
        "2001:db8::1",
        "3fff::1",
        "100::1",
        "4000::1",  # outside 2000::/3, the only global unicast IPv6 space
    ],
)
@pytest.mark.parametrize("policy", [STRICT, PRIVATE_OK], ids=["strict", "private-and-loopback-ok"])
def test_only_globally_reachable_addresses_pass_whatever_is_allowed(address, policy):
    with pytest.raises(UntrustedFhirServer):
        policy.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "2606:4700:4700::1111",
        "::ffff:93.184.215.14",
        "64:ff9b::5db8:d70e",  # NAT64 of 93.184.215.14: what DNS64 gives an IPv6-only host
        "2002:5db8:d70e::1",  # 6to4 of the same
        TEREDO_TO_PUBLIC,
    ],
)
def test_global_addresses_and_forms_embedding_one_pass(address):
    STRICT.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b:1::a00:1", "fd12:3456::1"]
)
def test_private_forms_need_the_setting(address):
    with pytest.raises(UntrustedFhirServer):
        STRICT.check_address(ipaddress.ip_address(address))
    PRIVATE_OK.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address, reason",
    [
        ("2002:a9fe:a9fe::1", "6to4 address of 169.254.169.254: link-local and cloud-metadata"),
        ("64:ff9b::a00:1", "NAT64 address of 10.0.0.1: private network addresses"),
        (TEREDO_TO_10_0_0_1, "Teredo address of 10.0.0.1: private network"),
        ("100.100.100.200", "link-local and cloud-metadata addresses are never fetched"),
        ("168.63.129.16", "link-local and cloud-metadata addresses are never fetched"),
        ("100.64.0.1", "shared (carrier-grade NAT) addresses (100.64.0.0/10) are never fetched"),
        ("fec0::1", "site-local addresses (fec0::/10) are never fetched"),
        ("198.18.0.1", "not a globally reachable unicast address"),
    ],
)
def test_the_reason_names_the_rule_and_the_embedded_address(address, reason):
    with pytest.raises(UntrustedFhirServer) as refused:
        PRIVATE_OK.check_address(ipaddress.ip_address(address))
    assert reason in refused.value.reason
