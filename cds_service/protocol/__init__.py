"""The protocol stage: the service catalogue, and hook requests and feedback parsed and
validated against the CDS Hooks schemas in ``hooks/``."""

from cds_service.protocol.catalogue import Catalogue, ServiceDefinition, load_catalogue
from cds_service.protocol.feedback_window import OutcomeWindow
from cds_service.protocol.hook_request import HookRequest, bundle_resources
from cds_service.protocol.patient_scope import first_foreign
from cds_service.protocol.request_parser import (
    RequestLimits,
    check_limits,
    decode_json,
    parse_feedback,
    parse_hook_request,
)

__all__ = [
    "Catalogue",
    "HookRequest",
    "OutcomeWindow",
    "RequestLimits",
    "ServiceDefinition",
    "bundle_resources",
    "check_limits",
    "decode_json",
    "first_foreign",
    "load_catalogue",
    "parse_feedback",
    "parse_hook_request",
]
