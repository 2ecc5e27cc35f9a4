"""The data stage: the patient record from the prefetch and, for what is missing, the EHR's
FHIR server (bounded in size and time, only at addresses the server policy allows)."""

from cds_service.data.fhir_client import FetchFailed, FhirClient
from cds_service.data.fhir_server_policy import FhirServerPolicy
from cds_service.data.guarded_transport import GuardedTransport
from cds_service.data.next_link import follow_url
from cds_service.data.patient_record import PatientRecord, RecordGatherer
from cds_service.data.prefetch_template import is_read, template_resource_type
from cds_service.data.resolver import BoundedResolver
from cds_service.data.response_body import ACCEPT_IDENTITY, BodyRefused, read_bounded

__all__ = [
    "ACCEPT_IDENTITY",
    "BodyRefused",
    "BoundedResolver",
    "FetchFailed",
    "FhirClient",
    "FhirServerPolicy",
    "GuardedTransport",
    "PatientRecord",
    "RecordGatherer",
    "follow_url",
    "is_read",
    "read_bounded",
    "template_resource_type",
]
