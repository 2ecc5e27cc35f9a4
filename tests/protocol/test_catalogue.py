import re
from urllib.parse import parse_qsl, urlsplit

from cds_service.protocol.catalogue import HOOKS, load_catalogue

# CDS Hooks 2.0 prefetch tokens (reference/cds-hooks.md §2.4).
_ALLOWED_TOKENS = {"context.patientId", "context.userId", "context.encounterId"}
# The 2.0 restriction subset: references, token equality, _count, _sort.
_ALLOWED_PARAMS = {"patient", "_count", "_sort", "code", "category", "status", "date"}


def test_discovery_has_one_service_per_hook_with_every_field():
    discovery = load_catalogue().discovery()
    assert sorted(s["hook"] for s in discovery["services"]) == sorted(HOOKS)
    for service in discovery["services"]:
        for field in ("id", "hook", "title", "description", "usageRequirements", "prefetch"):
            assert isinstance(service[field], str | dict) and service[field], field
        assert re.fullmatch(r"[a-z0-9-]+", service["id"])


def test_prefetch_templates_stay_inside_the_2_0_query_restrictions():
    for service in load_catalogue().discovery()["services"]:
        for key, template in service["prefetch"].items():
            tokens = set(re.findall(r"\{\{\s*([^}]+?)\s*\}\}", template))
            assert tokens <= _ALLOWED_TOKENS, (key, tokens)
            parts = urlsplit(template)
            assert "_include" not in template and "_revinclude" not in template
            for name, _ in parse_qsl(parts.query):
                assert "." not in name, f"chained parameter in {key}"
                assert name.split(":")[0] in _ALLOWED_PARAMS, (key, name)


def test_prefetch_fetches_what_the_rules_need():
    wanted = {
        "Patient",
        "Condition",
        "Observation",
        "Procedure",
        "ServiceRequest",
        "ImagingStudy",
        "DiagnosticReport",
        "DocumentReference",  # clinical notes (decision-rules §6)
    }
    for service in load_catalogue().services.values():
        types = {re.split(r"[/?]", t)[0] for t in service.prefetch.values()}
        assert types == wanted, service.id


def test_essential_keys_are_prefetch_keys_of_every_service():
    catalogue = load_catalogue()
    assert catalogue.essential_prefetch == {"patient", "conditions", "observations"}
    for service in catalogue.services.values():
        assert catalogue.essential_prefetch <= set(service.prefetch)


def test_every_hook_has_a_compiled_request_schema():
    catalogue = load_catalogue()
    assert set(catalogue.request_validators) == set(HOOKS)
    assert "feedback.schema.json" in catalogue.schemas
