import ipaddress

import pytest

from cds_service.data.fhir_server_policy import FhirServerPolicy, UntrustedFhirServer

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
