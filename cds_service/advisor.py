"""One hook call end to end, without HTTP: request → record → evaluation → response.

The app and the ``cds-service evaluate`` command both answer through an ``Advisor``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cds_service.cards import render
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.evaluation import Evaluation
from cds_service.clinical.knowledge import Knowledge
from cds_service.data.patient_record import PatientRecord, RecordGatherer
from cds_service.errors import ServiceError
from cds_service.protocol.catalogue import Catalogue, ServiceDefinition
from cds_service.protocol.hook_request import HookRequest
from cds_service.protocol.request_parser import parse_hook_request

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Advice:
    request: HookRequest
    record: PatientRecord
    evaluation: Evaluation
    response: dict[str, Any]


@dataclass(frozen=True)
class Advisor:
    catalogue: Catalogue
    knowledge: Knowledge
    gatherer: RecordGatherer
    clinical: ClinicalConfig
    clock: Clock = utc_now

    def service(self, service_id: str) -> ServiceDefinition:
        try:
            return self.catalogue.services[service_id]
        except KeyError:
            raise ServiceError(
                404,
                "not-found",
                f"There is no CDS service '{service_id[:80]}' here; see GET /cds-services.",
                kind="unknown-service",
            ) from None

    async def advise(self, service_id: str, body: bytes) -> Advice:
        service = self.service(service_id)
        request = parse_hook_request(body, service, self.catalogue.request_validators[service.hook])
        record = await self.gatherer.gather(request, service)
        evaluation = evaluate(
            record.resources,
            request.orders_in_scope(),
            hook=request.hook,
            now=self.clock(),
            knowledge=self.knowledge,
            config=self.clinical,
            unavailable_data=record.gaps,
        )
        return Advice(request, record, evaluation, render(evaluation, request, self.clinical))
