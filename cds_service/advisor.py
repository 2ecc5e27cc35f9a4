"""One hook call end to end, without HTTP: request → record → evaluation → response.

The app and the ``cds-service evaluate`` command both answer through an ``Advisor``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds_service.cards import CdsResponse, render
from cds_service.clinical import ClinicalConfig, Evaluation, Knowledge, evaluate
from cds_service.data import PatientRecord, RecordGatherer
from cds_service.errors import UnknownService, WrongHook
from cds_service.notes import NoteReader, NoteReading
from cds_service.protocol import (
    Catalogue,
    HookRequest,
    RequestLimits,
    ServiceDefinition,
    parse_hook_request,
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Advice:
    request: HookRequest
    record: PatientRecord
    evaluation: Evaluation
    response: CdsResponse


@dataclass(frozen=True)
class Advisor:
    catalogue: Catalogue
    knowledge: Knowledge
    gatherer: RecordGatherer
    clinical: ClinicalConfig
    clock: Clock = utc_now
    limits: RequestLimits | None = None
    #: Reads clinical notes (DocumentReference); None: notes are not read (RADIX_NOTES_ENABLED).
    notes: NoteReader | None = None

    def service(self, service_id: str) -> ServiceDefinition:
        try:
            return self.catalogue.services[service_id]
        except KeyError:
            raise UnknownService(
                f"There is no CDS service '{service_id[:80]}' here; see GET /cds-services."
            ) from None

    def service_for_hook(self, hook: object) -> ServiceDefinition:
        """The service that answers ``hook`` (the catalogue has one per hook), or a 400."""
        for service in self.catalogue.services.values():
            if service.hook == hook:
                return service
        message = (
            f"No service here answers the hook '{hook[:64]}'; see GET /cds-services."
            if isinstance(hook, str)
            else "The request names no hook (a string is required)."
        )
        raise WrongHook(message)

    def parse(self, service_id: str, body: bytes) -> HookRequest:
        """The validated request for the service, within the request limits; or a 4xx."""
        service = self.service(service_id)
        return parse_hook_request(
            body, service, self.catalogue.request_validators[service.hook], self.limits
        )

    async def advise(self, service_id: str, body: bytes) -> Advice:
        return await self.respond(self.parse(service_id, body))

    async def respond(self, request: HookRequest) -> Advice:
        """Gather the record, evaluate it, render the cards."""
        service = self.service(request.service_id)
        record = await self.gatherer.gather(request, service)
        now = self.clock()
        notes = await self.read_notes(request, record, now)
        evaluation = evaluate(
            record.resources,
            request.orders_in_scope(),
            hook=request.hook,
            now=now,
            knowledge=self.knowledge,
            config=self.clinical,
            unavailable_data=record.gaps,
            note_findings=notes.findings,
            note_remarks=notes.remarks,
        )
        return Advice(request, record, evaluation, render(evaluation, request, self.clinical))

    async def read_notes(
        self, request: HookRequest, record: PatientRecord, now: datetime
    ) -> NoteReading:
        """The notes stage: findings read from the record's clinical notes (rules §6)."""
        if self.notes is None:
            return NoteReading()
        token = request.fhir_authorization.access_token if request.fhir_authorization else None
        client = self.gatherer.client

        async def fetch(url: str) -> Any:
            return await client.get(url, token)

        return await self.notes.read(record.resources, now, request.fhir_server, fetch)
