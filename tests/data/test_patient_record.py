"""Prefetch semantics against a real FHIR server (medplum, in memory)."""

import time

import httpx
import orjson
import pytest

from cds_service.data.fhir_client import FhirClient
from cds_service.data.fhir_server_policy import FhirServerPolicy
from cds_service.data.guarded_transport import GuardedTransport
from cds_service.data.patient_record import RecordGatherer
from cds_service.errors import ServiceError
from cds_service.protocol.catalogue import ServiceDefinition, load_catalogue
from cds_service.protocol.hook_request import FhirAuthorization, HookRequest
from tests.hostile_server import Reply, hostile_server, tcp_trap

pytestmark = pytest.mark.integration

CATALOGUE = load_catalogue()
SERVICE = next(s for s in CATALOGUE.services.values() if s.hook == "patient-view")
TOKEN = "token-for-the-ehr-fhir-server"

PATIENT = {"resourceType": "Patient", "id": "pr-pat", "birthDate": "1970-01-01"}


def _condition(n: int) -> dict:
    return {
        "resourceType": "Condition",
        "id": f"pr-cond{n}",
        "subject": {"reference": "Patient/pr-pat"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "23056005"}]},
    }


def _observation(n: int) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"pr-obs{n}",
        "status": "final",
        "subject": {"reference": "Patient/pr-pat"},
        "valueBoolean": True,
        "code": {
            "coding": [
                {
                    "system": "https://radix-cds.org/fhir/CodeSystem/neuro-exam",
                    "code": "straight-leg-raise",
                }
            ]
        },
        "effectiveDateTime": f"2026-11-{n + 1:02d}T09:00:00Z",
    }


@pytest.fixture
def ehr(fhir_server):
    fhir_server.reset()
    fhir_server.clear_faults()
    fhir_server.require_token(None)
    fhir_server.load([PATIENT, _condition(1), _condition(2), *[_observation(n) for n in range(5)]])
    fhir_server.clear_requests()
    yield fhir_server
    fhir_server.clear_faults()
    fhir_server.require_token(None)


@pytest.fixture
async def gatherer():
    async with httpx.AsyncClient(timeout=5) as http:
        yield RecordGatherer(
            client=FhirClient(http, FhirServerPolicy(allow_loopback=True), 1_000_000),
            essential=CATALOGUE.essential_prefetch,
            deadline_seconds=1.5,
            max_pages=10,
        )


def _request(
    server, prefetch=None, token: str | None = TOKEN, patient: str = "pr-pat"
) -> HookRequest:
    return HookRequest(
        service_id=SERVICE.id,
        hook="patient-view",
        hook_instance="hi-1",
        context={"userId": "Practitioner/x", "patientId": patient},
        prefetch=prefetch or {},
        fhir_server=server.base_url if server else None,
        fhir_authorization=FhirAuthorization(TOKEN, "Bearer", "patient/*.read", "radix", 300)
        if token
        else None,
    )


def _ids(record) -> set[str]:
    return {f"{r['resourceType']}/{r['id']}" for r in record.resources}


async def test_missing_keys_are_fetched_in_parallel_with_the_bearer_token(ehr, gatherer):
    record = await gatherer.gather(_request(ehr), SERVICE)
    assert {
        "Patient/pr-pat",
        "Condition/pr-cond1",
        "Condition/pr-cond2",
        "Observation/pr-obs4",
    } <= _ids(record)
    assert record.unavailable == () and set(record.fetched) == set(SERVICE.prefetch)
    requests = ehr.requests()
    assert len(requests) == len(SERVICE.prefetch)
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in requests)


async def test_a_server_that_requires_the_token_gets_it(ehr, gatherer):
    ehr.require_token(TOKEN)
    record = await gatherer.gather(_request(ehr), SERVICE)
    assert "Patient/pr-pat" in _ids(record)


async def test_null_keys_mean_no_data_and_are_not_queried_again(ehr, gatherer):
    prefetch = {"procedures": None, "imagingStudies": None}
    record = await gatherer.gather(_request(ehr, prefetch), SERVICE)
    queried = {r["url"].split("?")[0].split("/")[2] for r in ehr.requests()}
    assert queried.isdisjoint({"Procedure", "ImagingStudy"})
    assert "Patient/pr-pat" in _ids(record) and record.unavailable == ()


async def test_a_patient_that_is_not_found_is_a_412_not_an_empty_answer(ehr, gatherer):
    # No cards would read as "nothing to say" and hide a wrong patientId or fhirServer.
    for request in (_request(ehr, {"patient": None}), _request(ehr, {}, patient="nobody")):
        with pytest.raises(ServiceError) as caught:
            await gatherer.gather(request, SERVICE)
        assert caught.value.status == 412 and "patient: not found" in caught.value.message
    assert not any(r["url"].startswith("/fhir/Patient?") for r in ehr.requests())


async def test_operation_outcome_keys_are_not_queried_again(ehr, gatherer):
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    record = await gatherer.gather(_request(ehr, {"diagnosticReports": outcome}), SERVICE)
    assert not any("/DiagnosticReport" in r["url"] for r in ehr.requests())
    assert record.unavailable == ("diagnosticReports",)


async def test_an_operation_outcome_for_essential_data_is_a_412(ehr, gatherer):
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    with pytest.raises(ServiceError) as caught:
        await gatherer.gather(_request(ehr, {"conditions": outcome}), SERVICE)
    assert caught.value.status == 412 and "conditions" in caught.value.message
    assert not any("/Condition" in r["url"] for r in ehr.requests())


async def test_next_links_are_followed_on_the_fhir_server(ehr, gatherer):
    paged = ServiceDefinition(
        **{
            **SERVICE.__dict__,
            "prefetch": {
                **SERVICE.prefetch,
                "observations": "Observation?patient={{context.patientId}}&_count=2",
            },
        }
    )
    record = await gatherer.gather(_request(ehr), paged)
    assert {f"Observation/pr-obs{n}" for n in range(5)} <= _ids(record)
    observation_calls = [r for r in ehr.requests() if "/Observation" in r["url"]]
    assert len(observation_calls) == 3  # 2 + 2 + 1
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in observation_calls)
    assert record.incomplete == ()


async def test_a_paginated_prefetch_bundle_is_completed_from_the_server(ehr, gatherer):
    first = httpx.get(f"{ehr.base_url}/Observation?patient=pr-pat&_count=2").json()
    ehr.clear_requests()
    record = await gatherer.gather(_request(ehr, {"observations": first}), SERVICE)
    assert {f"Observation/pr-obs{n}" for n in range(5)} <= _ids(record)


async def test_a_paginated_essential_key_without_a_server_is_a_412_never_advice(ehr, gatherer):
    first = httpx.get(f"{ehr.base_url}/Observation?patient=pr-pat&_count=2").json()
    assert any(link["relation"] == "next" for link in first["link"])
    full = {k: {"resourceType": "Bundle", "type": "searchset"} for k in SERVICE.prefetch}
    full.update(patient=PATIENT, observations=first)
    with pytest.raises(ServiceError) as caught:
        await gatherer.gather(_request(None, full, token=None), SERVICE)
    assert caught.value.status == 412
    assert "observations: only partly read (no fhirServer" in caught.value.message


async def test_a_paginated_optional_key_without_a_server_is_partial(ehr, gatherer):
    ehr.load(
        [
            {
                "resourceType": "Procedure",
                "id": f"pr-proc{n}",
                "status": "completed",
                "subject": {"reference": "Patient/pr-pat"},
                "code": {"text": "physiotherapy"},
            }
            for n in range(3)
        ]
    )
    first = httpx.get(f"{ehr.base_url}/Procedure?patient=pr-pat&_count=2").json()
    full = {k: {"resourceType": "Bundle", "type": "searchset"} for k in SERVICE.prefetch}
    full.update(patient=PATIENT, procedures=first)
    record = await gatherer.gather(_request(None, full, token=None), SERVICE)
    assert record.incomplete == ("procedures",) and "procedures (partial)" in record.gaps


async def test_a_fhir_server_answering_another_patients_data_is_a_412(ehr, gatherer):
    ehr.load([{**_condition(9), "subject": {"reference": "Patient/someone-else"}}])
    ehr.set_faults({"Condition": "ignore-patient"})  # a server that drops the patient criterion
    with pytest.raises(ServiceError) as caught:
        await gatherer.gather(_request(ehr), SERVICE)
    assert caught.value.status == 412
    assert "another patient's data (Condition/pr-cond9, whose subject is Patient/someone-else)" in (
        caught.value.message
    )


async def test_another_patients_optional_data_from_the_server_is_left_out(ehr, gatherer):
    ehr.load(
        [
            {
                "resourceType": "Procedure",
                "id": "pr-proc-other",
                "status": "completed",
                "subject": {
                    "reference": "https://ehr.example/fhir/Patient/someone-else/_history/3"
                },
                "code": {"text": "physiotherapy"},
            }
        ]
    )
    ehr.set_faults({"Procedure": "ignore-patient"})
    record = await gatherer.gather(_request(ehr), SERVICE)
    assert "procedures" in record.unavailable
    assert "Procedure/pr-proc-other" not in _ids(record)


@pytest.mark.parametrize("fault", ["status-500", "invalid-json", "hang", "operation-outcome-400"])
async def test_essential_data_the_server_cannot_give_is_a_412_within_the_deadline(
    ehr, gatherer, fault
):
    ehr.set_faults({"Condition": fault})
    started = time.monotonic()
    with pytest.raises(ServiceError) as caught:
        await gatherer.gather(_request(ehr), SERVICE)
    assert time.monotonic() - started < gatherer.deadline_seconds + 1.0
    assert caught.value.status == 412 and "conditions" in caught.value.message


@pytest.mark.parametrize("fault", ["status-500", "invalid-json", "hang"])
async def test_optional_data_the_server_cannot_give_degrades_the_answer(ehr, gatherer, fault):
    ehr.set_faults({"ImagingStudy": fault})
    record = await gatherer.gather(_request(ehr), SERVICE)
    assert record.unavailable == ("imagingStudies",)
    assert "Condition/pr-cond1" in _ids(record)


async def test_without_prefetch_or_fhir_server_essential_data_is_a_412(gatherer):
    with pytest.raises(ServiceError) as caught:
        await gatherer.gather(_request(None, token=None), SERVICE)
    assert caught.value.status == 412


async def test_a_prefetch_value_of_the_wrong_type_is_a_400(ehr, gatherer):
    with pytest.raises(ServiceError) as caught:
        await gatherer.gather(_request(ehr, {"patient": _condition(9)}), SERVICE)
    assert caught.value.status == 400 and "prefetch.patient" in caught.value.message


async def test_next_links_to_another_host_are_not_followed():
    """A prefetch Bundle could point elsewhere; the EHR's token must not go there."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        gatherer = RecordGatherer(
            FhirClient(http, FhirServerPolicy(allow_loopback=True), 10**6),
            CATALOGUE.essential_prefetch,
            1.0,
            10,
        )
        evil = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "next", "url": "http://127.0.0.2/steal?page=2"}],
        }
        request = HookRequest(
            service_id=SERVICE.id,
            hook="patient-view",
            hook_instance="h",
            context={"userId": "Practitioner/x", "patientId": "p"},
            prefetch={"patient": {"resourceType": "Patient", "id": "p"}, "conditions": evil},
            fhir_server="http://127.0.0.1:9/fhir",
            fhir_authorization=FhirAuthorization(TOKEN, "Bearer", "s", "radix", 300),
        )
        with pytest.raises(ServiceError) as essential:
            await gatherer.gather(request, SERVICE)
        optional = await gatherer.gather(
            HookRequest(
                **{
                    **request.__dict__,
                    "prefetch": {
                        **request.prefetch,
                        "conditions": {"resourceType": "Bundle", "type": "searchset"},
                        "procedures": evil,
                    },
                }
            ),
            SERVICE,
        )
    assert all(r.url.host == "127.0.0.1" for r in seen)
    assert essential.value.status == 412 and "outside the FHIR server" in essential.value.message
    assert "procedures" in optional.incomplete


# --- next links over real HTTP: the token goes only to the FHIR server, below its base path --


@pytest.fixture
async def ehr_and_trap():
    """A recording FHIR server on loopback, and a second port nothing may connect to."""
    async with hostile_server() as server, tcp_trap() as trap:
        yield server, trap


def _conditions_fetched_from(server) -> HookRequest:
    """Every key in prefetch but ``conditions`` (essential), which must come from ``server``."""
    prefetch = {k: {"resourceType": "Bundle", "type": "searchset"} for k in SERVICE.prefetch}
    prefetch["patient"] = PATIENT
    del prefetch["conditions"]
    return HookRequest(
        service_id=SERVICE.id,
        hook="patient-view",
        hook_instance="hi-next",
        context={"userId": "Practitioner/x", "patientId": "pr-pat"},
        prefetch=prefetch,
        fhir_server=f"{server.base_url}/fhir",
        fhir_authorization=FhirAuthorization(TOKEN, "Bearer", "patient/*.read", "radix", 300),
    )


def _page(next_url: str | None) -> Reply:
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": _condition(1)}]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return Reply(orjson.dumps(bundle), {"content-type": "application/fhir+json"})


async def _gather_over_http(request: HookRequest):
    policy = FhirServerPolicy(allow_loopback=True)
    async with httpx.AsyncClient(transport=GuardedTransport(policy), timeout=5) as http:
        gatherer = RecordGatherer(
            FhirClient(http, policy, 10**6), CATALOGUE.essential_prefetch, 2.0, 10
        )
        return await gatherer.gather(request, SERVICE)


@pytest.mark.parametrize(
    "link",
    [
        "{fhir}-evil/Condition?page=2",
        "{fhir}/../../admin/secret",
        "{fhir}/../admin/secret",
        "{fhir}/%2e%2e/admin",
        "{fhir}/%2E%2E/%2E%2E/admin",
        "{fhir}/..%2fadmin",
        "{fhir}/Condition/..%2F..%2Fadmin",
        "{fhir}/%252e%252e/admin",
        "{fhir}/..\\admin",
        "../admin/secret",
        "..%2fadmin",
        "/admin/secret",
        "http://localhost:{port}/fhir/Condition?page=2",
        "http://127.0.0.1:{trap}/fhir/Condition?page=2",
        "https://127.0.0.1:{trap}/fhir/Condition?page=2",
        "https://127.0.0.1:{port}/fhir/Condition?page=2",
        "http://user:pw@127.0.0.1:{port}/fhir/Condition?page=2",
        "http://127.0.0.1:{port}@127.0.0.1:{trap}/fhir/Condition?page=2",
        "//127.0.0.1:{trap}/fhir/Condition?page=2",
    ],
)
async def test_a_next_link_off_the_fhir_server_is_never_fetched(ehr_and_trap, link):
    server, trap = ehr_and_trap
    port = server.base_url.rsplit(":", 1)[1]
    hostile = link.format(fhir=f"{server.base_url}/fhir", port=port, trap=trap.port)
    server.reply("/fhir/Condition", _page(hostile))

    with pytest.raises(ServiceError) as caught:
        await _gather_over_http(_conditions_fetched_from(server))

    assert caught.value.status == 412
    assert "a next link outside the FHIR server was not followed" in caught.value.message
    assert [s.path for s in server.seen] == ["/fhir/Condition"]  # the first page, nothing else
    assert trap.connections == 0


@pytest.mark.parametrize(
    "link", ["{fhir}/Condition-page-2", "Condition-page-2", "{fhir}/./x/../Condition-page-2"]
)
async def test_a_next_link_below_the_base_is_followed_with_the_token(ehr_and_trap, link):
    server, _ = ehr_and_trap
    server.reply("/fhir/Condition", _page(link.format(fhir=f"{server.base_url}/fhir")))
    server.reply("/fhir/Condition-page-2", _page(None))

    record = await _gather_over_http(_conditions_fetched_from(server))

    assert record.incomplete == () and "conditions" in record.fetched
    assert [s.path for s in server.seen] == ["/fhir/Condition", "/fhir/Condition-page-2"]
    assert all(s.authorization == f"Bearer {TOKEN}" for s in server.seen)


# --- Resources fetched count against RADIX_MAX_PREFETCH_RESOURCES, all keys and pages --------


def _gatherer_with_limit(http: httpx.AsyncClient, max_resources: int) -> RecordGatherer:
    return RecordGatherer(
        client=FhirClient(http, FhirServerPolicy(allow_loopback=True), 10_000_000),
        essential=CATALOGUE.essential_prefetch,
        deadline_seconds=10.0,
        max_pages=10,
        max_resources=max_resources,
    )


def _many_observations(count: int) -> list[dict]:
    return [{**_observation(n % 28), "id": f"pr-many{n}"} for n in range(count)]


async def test_fetched_resources_over_the_limit_make_an_essential_key_a_412(ehr):
    ehr.load(_many_observations(60))
    paged = ServiceDefinition(
        **{
            **SERVICE.__dict__,
            "prefetch": {
                **SERVICE.prefetch,
                "observations": "Observation?patient={{context.patientId}}&_count=10",
            },
        }
    )
    ehr.clear_requests()
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(ServiceError) as caught:
            await _gatherer_with_limit(http, 30).gather(_request(ehr), paged)
        within = await _gatherer_with_limit(http, 70).gather(_request(ehr), paged)
    assert caught.value.status == 412
    assert (
        "observations: only partly read (more than 30 resources (RADIX_MAX_PREFETCH_RESOURCES))"
        in caught.value.message
    )
    # The limit stops the reading: with the patient, 2 Conditions and 5 Observations from the
    # first load, 30 are reached on the third or fourth page of 10, never the seventh.
    observation_pages = [r for r in ehr.requests() if "/Observation" in r["url"]]
    assert 3 <= len(observation_pages) - 7 <= 4  # 7 pages for the call within the limit
    assert within.incomplete == () and len(within.resources) == 1 + 2 + 65


async def test_an_optional_key_over_the_limit_is_partial_and_the_record_bounded(ehr):
    ehr.load(
        [
            {
                "resourceType": "Procedure",
                "id": f"pr-many-proc{n}",
                "status": "completed",
                "subject": {"reference": "Patient/pr-pat"},
                "code": {"text": "physiotherapy"},
            }
            for n in range(40)
        ]
    )
    prefetch = {k: {"resourceType": "Bundle", "type": "searchset"} for k in SERVICE.prefetch}
    prefetch["patient"] = PATIENT
    del prefetch["procedures"]
    async with httpx.AsyncClient(timeout=10) as http:
        record = await _gatherer_with_limit(http, 25).gather(_request(ehr, prefetch), SERVICE)
    assert record.incomplete == ("procedures",) and "procedures (partial)" in record.gaps
    assert len(record.resources) == 25  # the patient from prefetch and 24 procedures


async def test_prefetch_and_fetched_resources_share_one_limit(ehr):
    observations = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in _many_observations(20)],
    }
    prefetch = {k: {"resourceType": "Bundle", "type": "searchset"} for k in SERVICE.prefetch}
    prefetch.update(patient=PATIENT, observations=observations)
    del prefetch["conditions"]  # two Conditions on the server: 21 + 2 > 22
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(ServiceError) as caught:
            await _gatherer_with_limit(http, 22).gather(_request(ehr, prefetch), SERVICE)
        assert "conditions: only partly read (more than 22 resources" in caught.value.message
        record = await _gatherer_with_limit(http, 23).gather(_request(ehr, prefetch), SERVICE)
    assert record.incomplete == () and {"Condition/pr-cond1", "Condition/pr-cond2"} <= _ids(record)
