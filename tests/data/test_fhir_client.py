"""FhirClient rules at the HTTP transport; hostile bodies from a real server on 127.0.0.1.

Nothing leaves the machine: mock transports, or uvicorn on loopback.
"""

import asyncio
import gzip
import time
from collections.abc import AsyncIterator
from typing import Self

import httpx
import orjson
import pytest

from cds_service.data.fhir_client import FetchFailed, FhirClient
from cds_service.data.fhir_server_policy import FhirServerPolicy
from cds_service.data.guarded_transport import GuardedTransport
from tests.bombs import MIB, gzip_of_gzip_of_zeros, gzip_of_zeros
from tests.hostile_server import HostileServer, Reply, hostile_server
from tests.memory import peak_rss_growth


def _client(handler, max_bytes: int = 10_000, **policy) -> tuple[FhirClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return FhirClient(http, FhirServerPolicy(**policy), max_bytes), seen


class _CountingTransport(httpx.MockTransport):
    def __init__(self) -> None:
        super().__init__(lambda r: httpx.Response(200, json={"resourceType": "Patient"}))
        self.opened = self.closed = 0

    async def __aenter__(self) -> Self:
        self.opened += 1
        return self

    async def aclose(self) -> None:
        self.closed += 1


async def test_the_client_owns_its_http_client_and_closes_it_on_the_way_out():
    transport = _CountingTransport()
    policy = FhirServerPolicy(allow_loopback=True)
    client = FhirClient(httpx.AsyncClient(transport=transport), policy, 10_000)

    async with client as entered:
        assert entered is client and transport.opened == 1 and not client.is_closed
        assert await client.get("http://127.0.0.1/fhir/Patient/1", None) is not None

    assert client.is_closed and transport.closed == 1
    with pytest.raises(RuntimeError):  # as an httpx client: once closed, never reopened
        await client.__aenter__()


async def test_a_client_closed_on_its_own_releases_its_http_client_too():
    transport = _CountingTransport()
    client = FhirClient(httpx.AsyncClient(transport=transport), FhirServerPolicy(), 10_000)
    await client.aclose()
    assert client.is_closed and transport.closed == 1


async def test_sends_the_bearer_token_and_asks_for_fhir_json():
    client, seen = _client(
        lambda r: httpx.Response(200, json={"resourceType": "Patient"}), allow_loopback=True
    )
    assert await client.get("http://127.0.0.1/fhir/Patient/1", "tok") == {"resourceType": "Patient"}
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert "application/fhir+json" in seen[0].headers["accept"]


async def test_no_authorization_header_without_a_token():
    client, seen = _client(
        lambda r: httpx.Response(200, json={"resourceType": "Bundle"}), allow_loopback=True
    )
    await client.get("http://127.0.0.1/fhir/Condition", None)
    assert "authorization" not in seen[0].headers


async def test_404_means_no_such_resource():
    client, _ = _client(lambda r: httpx.Response(404), allow_loopback=True)
    assert await client.get("http://127.0.0.1/fhir/Patient/x", "t") is None


@pytest.mark.parametrize(
    "response, reason",
    [
        (httpx.Response(500, text="boom"), "HTTP 500"),
        (httpx.Response(200, text="<html>"), "not valid JSON"),
        (httpx.Response(200, json=[1, 2]), "not a FHIR resource"),
        (httpx.Response(302, headers={"location": "http://169.254.169.254/"}), "redirect"),
        (httpx.Response(200, json={"resourceType": "Bundle", "pad": "x" * 20_000}), "larger"),
    ],
)
async def test_unusable_answers_fail_with_a_reason(response, reason):
    client, seen = _client(lambda r: response, allow_loopback=True)
    with pytest.raises(FetchFailed, match=reason):
        await client.get("http://127.0.0.1/fhir/Patient/1", "t")
    assert len(seen) == 1  # a redirect is not followed


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/fhir",
        "http://localhost/fhir",
        "file:///etc/passwd",
    ],
)
async def test_forbidden_servers_are_never_contacted(url):
    client, seen = _client(lambda r: httpx.Response(200, json={"resourceType": "Patient"}))
    with pytest.raises(FetchFailed, match="refused"):
        await client.get(url, "t")
    assert seen == []


async def test_transport_errors_and_timeouts_fail_cleanly():
    def broken(request):
        raise httpx.ConnectError("refused", request=request)

    def slow(request):
        raise httpx.ReadTimeout("slow", request=request)

    for handler, reason in ((broken, "transport"), (slow, "timed out")):
        client, _ = _client(handler, allow_loopback=True)
        with pytest.raises(FetchFailed, match=reason):
            await client.get("http://127.0.0.1/fhir/Patient/1", "t")


# --- Compressed bodies over real HTTP: bounded memory and time whatever the server sends -----

_DEADLINE = 2.0  # stands in for RADIX_FHIR_DEADLINE_SECONDS around one fetch
_MARGIN = 1.5
_MAX_BYTES = 10_485_760  # the default RADIX_FHIR_MAX_RESPONSE_BYTES


async def _fetch_within_deadline(url: str) -> tuple[FetchFailed, float, float]:
    """Fetch through the production transport; the reason it failed, seconds, peak MiB grown."""
    policy = FhirServerPolicy(allow_loopback=True)
    async with httpx.AsyncClient(transport=GuardedTransport(policy), timeout=_DEADLINE) as http:
        client = FhirClient(http, policy, _MAX_BYTES)
        started = time.monotonic()
        with peak_rss_growth() as growth, pytest.raises(FetchFailed) as failed:
            async with asyncio.timeout(_DEADLINE):
                await client.get(url, "token")
        elapsed = time.monotonic() - started
    return failed.value, elapsed, growth.mib


@pytest.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with hostile_server() as server:
        yield server


@pytest.mark.parametrize(
    "body, encoding, chunk_size, reason",
    [
        (gzip_of_zeros, "gzip", None, "larger than the configured limit"),
        (gzip_of_zeros, "gzip", 65_536, "larger than the configured limit"),
        (gzip_of_zeros, "x-gzip", 65_536, "larger than the configured limit"),
        (gzip_of_gzip_of_zeros, "gzip, gzip", None, "stacked content codings"),
        (gzip_of_gzip_of_zeros, "gzip,gzip", 512, "stacked content codings"),
        (gzip_of_zeros, "br", None, "content coding 'br' is not supported"),
        (gzip_of_zeros, "deflate", None, "content coding 'deflate' is not supported"),
        (gzip_of_zeros, "zstd", None, "content coding 'zstd' is not supported"),
    ],
    ids=[
        "gzip",
        "gzip-chunked",
        "x-gzip",
        "gzip-gzip",
        "gzip-gzip-chunked",
        "br",
        "deflate",
        "zstd",
    ],
)
async def test_a_compression_bomb_fails_fast_with_bounded_memory(
    hostile, body, encoding, chunk_size, reason
):
    url = hostile.reply(
        "/fhir/Observation",
        Reply(
            body(),
            {"content-encoding": encoding, "content-type": "application/fhir+json"},
            chunk_size=chunk_size,
        ),
    )
    failure, elapsed, grown_mib = await _fetch_within_deadline(url)
    assert reason in failure.reason
    assert elapsed < _DEADLINE + _MARGIN
    assert grown_mib < 100, f"RSS grew by {grown_mib:.0f} MiB"


async def test_two_content_encoding_headers_are_stacked_codings(hostile):
    twice = (("content-encoding", "gzip"), ("content-encoding", "gzip"))
    url = hostile.reply("/fhir/Observation", Reply(gzip_of_gzip_of_zeros(), extra_headers=twice))
    failure, elapsed, grown_mib = await _fetch_within_deadline(url)
    assert "stacked content codings" in failure.reason
    assert elapsed < _DEADLINE + _MARGIN and grown_mib < 100


async def test_an_endless_gzip_stream_ends_at_the_limit(hostile):
    one_mib = gzip_of_zeros(MIB)
    # Chunked and never ending: only the cap on decoded bytes can stop it.
    url = hostile.reply(
        "/fhir/Observation",
        Reply(one_mib, {"content-encoding": "gzip"}, chunk_size=4096, endless=True),
    )
    failure, elapsed, grown_mib = await _fetch_within_deadline(url)
    assert "larger than the configured limit" in failure.reason
    assert elapsed < _DEADLINE + _MARGIN and grown_mib < 100


async def test_a_gzip_body_that_never_ends_is_cut_by_the_deadline(hostile):
    # A trickle of valid gzip, each chunk well within every per-read timeout.
    url = hostile.reply(
        "/fhir/Observation",
        Reply(
            gzip_of_zeros(MIB), {"content-encoding": "gzip"}, chunk_size=64, drip=0.05, endless=True
        ),
    )
    policy = FhirServerPolicy(allow_loopback=True)
    async with httpx.AsyncClient(transport=GuardedTransport(policy), timeout=_DEADLINE) as http:
        client = FhirClient(http, policy, _MAX_BYTES)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(_DEADLINE):
                await client.get(url, "token")
    assert time.monotonic() - started < _DEADLINE + _MARGIN


async def test_a_gzip_answer_within_the_limit_is_decoded_and_gzip_is_what_was_asked(hostile):
    document = {"resourceType": "Bundle", "type": "searchset", "total": 0, "pad": "x" * 50_000}
    url = hostile.reply(
        "/fhir/Observation",
        Reply(gzip.compress(orjson.dumps(document)), {"content-encoding": "gzip"}, chunk_size=1000),
    )
    policy = FhirServerPolicy(allow_loopback=True)
    async with httpx.AsyncClient(transport=GuardedTransport(policy)) as http:
        assert await FhirClient(http, policy, 100_000).get(url, "t") == document
    assert hostile.seen[0].accept_encoding == "gzip"


@pytest.mark.parametrize(
    "body, reason",
    [
        (gzip.compress(b'{"resourceType": "Patient"}')[:-9], "truncated"),
        (b"\x1f\x8b\x08\x00not gzip at all", "corrupt"),
        (gzip.compress(b'{"resourceType": "Patient"}') + b"trailing junk", "corrupt"),
    ],
    ids=["truncated", "corrupt", "junk-after-the-end"],
)
async def test_broken_gzip_fails_with_a_reason(hostile, body, reason):
    url = hostile.reply("/fhir/Patient/1", Reply(body, {"content-encoding": "gzip"}))
    failure, _, _ = await _fetch_within_deadline(url)
    assert reason in failure.reason


async def test_concatenated_gzip_members_are_one_body(hostile):
    halves = gzip.compress(b'{"resourceType": ') + gzip.compress(b'"Patient", "id": "p"}')
    url = hostile.reply("/fhir/Patient/p", Reply(halves, {"content-encoding": "gzip"}))
    policy = FhirServerPolicy(allow_loopback=True)
    async with httpx.AsyncClient(transport=GuardedTransport(policy)) as http:
        assert await FhirClient(http, policy, 1000).get(url, None) == {
            "resourceType": "Patient",
            "id": "p",
        }
