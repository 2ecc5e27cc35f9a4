"""FhirClient rules at the HTTP transport: nothing leaves the machine in these tests."""

import httpx
import pytest

from cds_service.data.fhir_client import FetchFailed, FhirClient
from cds_service.data.fhir_server_policy import FhirServerPolicy


def _client(handler, max_bytes: int = 10_000, **policy) -> tuple[FhirClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return FhirClient(http, FhirServerPolicy(**policy), max_bytes), seen


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
