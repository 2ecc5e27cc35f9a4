"""GuardedTransport over real sockets on 127.0.0.1: it connects only to the address it checked."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator

import httpcore
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cds_service.data.fhir_client import FetchFailed, FhirClient
from cds_service.data.fhir_server_policy import FhirServerPolicy
from cds_service.data.guarded_transport import GuardedTransport
from cds_service.errors import UntrustedFhirServer
from tests.live_server import free_port, serve


class Origin:
    """A FHIR-ish server on loopback that records the Host header of every request it gets."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

    def app(self) -> Starlette:
        async def patient(request: Request) -> JSONResponse:
            self.hosts.append(request.headers["host"])
            return JSONResponse({"resourceType": "Patient", "id": request.path_params["pid"]})

        return Starlette(routes=[Route("/fhir/Patient/{pid}", patient)])


@pytest.fixture
async def origin() -> AsyncIterator[tuple[Origin, int]]:
    state = Origin()
    port = free_port()
    async with serve(state.app(), port):
        yield state, port


def _resolver(*answers: list[str]):
    """Answers in turn, like a rebinding DNS server; the last answer repeats."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(host)
        return [ipaddress.ip_address(a) for a in answer]

    return resolve


async def test_connects_to_the_checked_address_and_keeps_the_host_name(origin):
    server, port = origin
    policy = FhirServerPolicy(allow_loopback=True, resolver=_resolver(["127.0.0.1"]))
    async with httpx.AsyncClient(transport=GuardedTransport(policy)) as http:
        client = FhirClient(http, policy, 10_000)
        doc = await client.get(f"http://fhir.test:{port}/fhir/Patient/p1", "token")
    assert doc == {"resourceType": "Patient", "id": "p1"}
    assert server.hosts == [f"fhir.test:{port}"]


async def test_dns_rebinding_between_check_and_connect_is_refused(origin):
    server, port = origin
    # The pre-check sees a public address; the lookup at connect time answers loopback.
    policy = FhirServerPolicy(resolver=_resolver(["93.184.215.14"], ["127.0.0.1"]))
    async with httpx.AsyncClient(transport=GuardedTransport(policy)) as http:
        client = FhirClient(http, policy, 10_000)
        with pytest.raises(FetchFailed, match="refused: loopback"):
            await client.get(f"http://rebind.test:{port}/fhir/Patient/p1", "token")
    assert server.hosts == []


@pytest.mark.parametrize("address", ["169.254.169.254", "127.0.0.1", "10.0.0.1", "0.0.0.0"])
async def test_the_transport_alone_refuses_forbidden_addresses(origin, address):
    server, port = origin
    policy = FhirServerPolicy(resolver=_resolver([address]))
    async with httpx.AsyncClient(transport=GuardedTransport(policy)) as http:
        with pytest.raises(UntrustedFhirServer):
            await http.get(f"http://name.test:{port}/fhir/Patient/p1")
        with pytest.raises(UntrustedFhirServer):
            await http.get(f"http://{address}:{port}/fhir/Patient/p1")
    assert server.hosts == []


async def test_a_connection_failure_is_an_httpx_connect_error():
    policy = FhirServerPolicy(allow_loopback=True)
    async with httpx.AsyncClient(transport=GuardedTransport(policy)) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{free_port()}/fhir/Patient/p1")


async def test_the_next_address_is_tried_when_one_does_not_connect(origin):
    server, port = origin
    # ::1 is not listened on by the origin (it binds 127.0.0.1), so 127.0.0.1 must be tried.
    policy = FhirServerPolicy(allow_loopback=True, resolver=_resolver(["::1", "127.0.0.1"]))
    async with httpx.AsyncClient(transport=GuardedTransport(policy)) as http:
        response = await http.get(f"http://dual.test:{port}/fhir/Patient/p2")
    assert response.json()["id"] == "p2" and server.hosts == [f"dual.test:{port}"]


class NoNetwork(httpcore.AsyncNetworkBackend):
    """The socket layer under the policy: records every connection asked for, makes none."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args, **kwargs):  # type: ignore[override]
        self.attempts.append(host)
        raise httpcore.ConnectError("no packet may leave in this test")

    async def connect_unix_socket(self, *args, **kwargs):  # type: ignore[override]
        raise AssertionError("never used")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


FORBIDDEN_EVERYWHERE = [
    "100.64.0.1",
    "100.127.255.254",
    "168.63.129.16",
    "fec0::1",
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "::ffff:10.0.0.1",
    "192.0.0.8",
    "198.18.0.1",
    "240.0.0.1",
    "0.0.0.0",
]


def _url(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:8080/fhir/Patient/p1"


@pytest.mark.parametrize("address", FORBIDDEN_EVERYWHERE)
async def test_new_forbidden_ranges_are_refused_before_any_connection(address):
    network = NoNetwork()
    policy = FhirServerPolicy(resolver=_resolver([address]))
    transport = GuardedTransport(policy, network_backend=network)
    async with httpx.AsyncClient(transport=transport) as http:
        client = FhirClient(http, policy, 10_000)
        for url in ("http://name.test:8080/fhir/Patient/p1", _url(address)):
            with pytest.raises(FetchFailed, match="refused"):
                await client.get(url, "token")
            # The transport on its own, as after a rebinding answer, refuses too.
            with pytest.raises(UntrustedFhirServer):
                await http.get(url)
    assert network.attempts == []


async def test_the_interceptor_would_see_a_connection_the_policy_allowed():
    network = NoNetwork()
    policy = FhirServerPolicy(resolver=_resolver(["93.184.215.14"]))
    async with httpx.AsyncClient(
        transport=GuardedTransport(policy, network_backend=network)
    ) as http:
        with pytest.raises(FetchFailed, match="transport error"):
            await FhirClient(http, policy, 10_000).get("http://name.test/fhir/Patient/1", None)
    assert network.attempts == ["93.184.215.14"]
