"""BoundedResolver: a hanging DNS answer for one name delays no other, and times out itself.

The lookup function (``getaddrinfo``'s shape) is injected: it hangs, blocking its thread as the
C library would, for the names a test makes slow, and answers at once for the others.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import orjson
import pytest

from cds_service.data.fhir_client import FetchFailed, FhirClient
from cds_service.data.fhir_server_policy import FhirServerPolicy
from cds_service.data.guarded_transport import GuardedTransport
from cds_service.data.resolver import BoundedResolver, LookupFailed
from tests.hostile_server import Reply, hostile_server


class SlowDns:
    """Blocks lookups of names ending in ``slow_suffix`` until released; others answer at once."""

    def __init__(self, slow_suffix: str, answer: str = "127.0.0.1") -> None:
        self.slow_suffix = slow_suffix
        self.answer = answer
        self.release = threading.Event()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[tuple]:
        with self._lock:
            self.calls[host] += 1
        if host.endswith(self.slow_suffix):
            self.release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.answer, port))]


@pytest.fixture
def slow_dns() -> Iterator[SlowDns]:
    dns = SlowDns(".hanging.example")
    yield dns
    dns.release.set()  # let the stuck threads go


async def test_a_hanging_name_times_out_and_delays_no_other(slow_dns):
    resolver = BoundedResolver(timeout_seconds=0.5, workers=8, lookup=slow_dns)
    stuck = asyncio.create_task(resolver("ehr.hanging.example", 443))
    await asyncio.sleep(0.05)

    started = time.monotonic()
    assert await resolver("ehr.example.org", 443) == [ipaddress.ip_address("127.0.0.1")]
    assert time.monotonic() - started < 0.2

    with pytest.raises(LookupFailed, match=r"did not resolve within 0\.5 s"):
        await stuck
    assert time.monotonic() - started < 0.5 + 0.5


async def test_many_hanging_names_of_one_domain_cannot_fill_the_pool(slow_dns):
    resolver = BoundedResolver(timeout_seconds=1.0, workers=4, lookup=slow_dns)
    flood = [asyncio.create_task(resolver(f"h{n}.hanging.example", 443)) for n in range(40)]
    await asyncio.sleep(0.05)

    started = time.monotonic()
    assert await resolver("ehr.example.org", 443) == [ipaddress.ip_address("127.0.0.1")]
    assert time.monotonic() - started < 0.2

    outcomes = await asyncio.gather(*flood, return_exceptions=True)
    assert all(isinstance(o, LookupFailed) and "within 1 s" in o.reason for o in outcomes)
    assert time.monotonic() - started < 1.0 + 0.5
    assert sum(slow_dns.calls[f"h{n}.hanging.example"] for n in range(40)) == 2  # half the pool


async def test_more_names_of_one_domain_than_its_share_take_turns_when_dns_is_fast():
    dns = SlowDns(".never.example")
    resolver = BoundedResolver(timeout_seconds=2.0, workers=2, lookup=dns)  # a share of one
    names = [f"fhir{n}.hospital.example" for n in range(30)]
    found = await asyncio.gather(*(resolver(name, 443) for name in names))
    assert found == [[ipaddress.ip_address("127.0.0.1")]] * 30
    assert set(dns.calls) == set(names)


async def test_one_name_is_looked_up_once_however_many_wait_and_retry(slow_dns):
    resolver = BoundedResolver(timeout_seconds=0.3, workers=8, lookup=slow_dns)
    waiting = [resolver("ehr.hanging.example", 443) for _ in range(20)]
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, LookupFailed) for o in outcomes)
    with pytest.raises(LookupFailed, match="did not resolve within"):
        await resolver("EHR.hanging.example", 443)  # joins the lookup still stuck in its thread
    assert slow_dns.calls["ehr.hanging.example"] == 1


async def test_a_name_that_does_not_exist_is_refused_with_a_reason():
    def nxdomain(host: str, port: int) -> list[tuple]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    resolver = BoundedResolver(timeout_seconds=1.0, workers=2, lookup=nxdomain)
    with pytest.raises(LookupFailed, match="does not resolve"):
        await resolver("nowhere.example", 443)


async def test_the_system_lookup_resolves_localhost():
    addresses = await BoundedResolver(timeout_seconds=5.0, workers=2)("localhost", 80)
    assert addresses and all(address.is_loopback for address in addresses)


async def test_a_fetch_from_one_fhir_server_is_not_held_up_by_anothers_dns(slow_dns):
    """End to end: the policy and the guarded transport resolve through the bounded pool."""
    patient = {"resourceType": "Patient", "id": "p1"}
    async with hostile_server() as server:
        server.reply("/fhir/Patient/p1", Reply(orjson.dumps(patient)))
        port = server.base_url.rsplit(":", 1)[1]
        resolver = BoundedResolver(timeout_seconds=1.0, workers=4, lookup=slow_dns)
        policy = FhirServerPolicy(allow_loopback=True, resolver=resolver)
        async with httpx.AsyncClient(transport=GuardedTransport(policy), timeout=5) as http:
            client = FhirClient(http, policy, 10_000)
            slow = asyncio.create_task(
                client.get(f"http://fhir.hanging.example:{port}/fhir/Patient/p1", "t")
            )
            await asyncio.sleep(0.05)
            started = time.monotonic()
            assert await client.get(f"http://fhir.example.org:{port}/fhir/Patient/p1", "t") == (
                patient
            )
            assert time.monotonic() - started < 0.5
            with pytest.raises(FetchFailed, match="did not resolve within 1 s"):
                await slow
    assert [s.path for s in server.seen] == ["/fhir/Patient/p1"]
