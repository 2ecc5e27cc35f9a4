"""The patient's record for one hook call: prefetch as sent, the rest fetched from fhirServer.

Prefetch semantics follow CDS Hooks 2.0.1 "Prefetch Template" (reference/cds-hooks.md §2.4):
a missing key is fetched; ``null`` means "no data" and is not re-queried; an OperationOutcome
means the client failed and is not re-queried; a Bundle's ``next`` link is followed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from cds_service.data.fhir_client import FetchFailed, FhirClient
from cds_service.data.next_link import follow_url
from cds_service.data.prefetch_template import is_read, render_template, template_resource_type
from cds_service.errors import EssentialDataUnavailable, PrefetchShape
from cds_service.protocol import HookRequest, ServiceDefinition, bundle_resources, first_foreign

logger = logging.getLogger("radix.data")


@dataclass(frozen=True)
class PatientRecord:
    """Every resource the rules may read, and which prefetch keys could not be (fully) had."""

    resources: list[dict[str, Any]]
    unavailable: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()
    fetched: tuple[str, ...] = field(default=())

    @property
    def gaps(self) -> tuple[str, ...]:
        """Keys to tell the clinician about: missing entirely, or only partly read."""
        return self.unavailable + tuple(f"{key} (partial)" for key in self.incomplete)


@dataclass
class _KeyResult:
    resources: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None  # why the key has no data at all
    #: Why only some pages were read (a ``next`` link that could not be followed), or None.
    partial: str | None = None
    fetched: bool = False


@dataclass
class _Budget:
    """Resources a call may still add from the FHIR server: all keys, all pages, one count."""

    left: int
    limit: int

    def take(self, result: _KeyResult, resources: list[dict[str, Any]]) -> bool:
        """Add what fits to ``result``; False (and ``result`` partial) when not all of it did."""
        kept = resources[: max(self.left, 0)]
        self.left -= len(kept)
        result.resources.extend(kept)
        if len(kept) < len(resources):
            result.partial = f"more than {self.limit} resources (RADIX_MAX_PREFETCH_RESOURCES)"
            return False
        return True


@dataclass(frozen=True)
class RecordGatherer:
    client: FhirClient
    essential: frozenset[str]
    deadline_seconds: float
    max_pages: int
    #: Most resources one call's record may hold, prefetch and fetched together: the same
    #: limit as for prefetch alone, so fetching costs no more than sending (27,000 fetched
    #: Observations were once processed on the event loop).
    max_resources: int = 5_000

    async def gather(self, request: HookRequest, service: ServiceDefinition) -> PatientRecord:
        """Resolve every prefetch key of the service; 412 when an essential one cannot be had."""
        results: dict[str, _KeyResult] = {}
        pending: dict[str, asyncio.Task[_KeyResult]] = {}
        budget = _Budget(self.max_resources, self.max_resources)
        for key, template in service.prefetch.items():
            if key in request.prefetch:
                value = request.prefetch[key]
                _check_shape(key, template, value)
                given = _from_prefetch(value)
                budget.left -= len(given.resources)
                if _next_link(value) and request.fhir_server:
                    pending[key] = asyncio.create_task(self._continue(request, value, budget))
                else:
                    results[key] = given
            else:
                pending[key] = asyncio.create_task(self._fetch(request, template, budget))

        if pending:
            done, not_done = await asyncio.wait(pending.values(), timeout=self.deadline_seconds)
            for task in not_done:
                task.cancel()
            if not_done:
                await asyncio.gather(*not_done, return_exceptions=True)
            for key, task in pending.items():
                if task in done and task.exception() is None:
                    results[key] = task.result()
                elif task in done:
                    results[key] = _KeyResult(failure="internal error")
                    logger.error("prefetch key %s failed", key, exc_info=task.exception())
                else:
                    results[key] = _KeyResult(failure="deadline exceeded")

        for key, result in results.items():
            _refuse_other_patients(result, request.patient_id)
            if (
                key in self.essential
                and is_read(service.prefetch[key])
                and not (result.resources or result.failure)
            ):
                # The patient itself not found (null in prefetch, or a read that found nothing):
                # "no cards" would look exactly like "nothing to say" and hide a wrong patientId.
                result.failure = "not found (a null prefetch value, or a read that found nothing)"
        failed = {key: r.failure for key, r in results.items() if r.failure}
        for key in self.essential & results.keys():
            # Advice on part of an essential key could miss the finding that matters: the first
            # page of an emergency case read "physiotherapy, no red flags".
            partial = results[key].partial
            if partial and key not in failed:
                failed[key] = f"only partly read ({partial})"
        missing_essential = sorted(set(failed) & self.essential)
        if missing_essential:
            logger.warning(
                "essential data unavailable: %s",
                ", ".join(f"{key} ({failed[key]})" for key in missing_essential),
            )
            raise EssentialDataUnavailable(
                "Radix needs data it could get neither from prefetch nor from the FHIR server: "
                + "; ".join(f"{key}: {failed[key]}" for key in missing_essential)
                + "."
            )
        return PatientRecord(
            resources=_deduplicate(r.resources for r in results.values()),
            unavailable=tuple(sorted(failed)),
            incomplete=tuple(sorted(k for k, r in results.items() if r.partial and not r.failure)),
            fetched=tuple(sorted(k for k, r in results.items() if r.fetched)),
        )

    async def _fetch(self, request: HookRequest, template: str, budget: _Budget) -> _KeyResult:
        if not request.fhir_server:
            return _KeyResult(failure="not in prefetch and no fhirServer given")
        query = render_template(template, request.context)
        if query is None:
            return _KeyResult(failure="prefetch template tokens not resolvable from context")
        url = f"{request.fhir_server.rstrip('/')}/{query}"
        try:
            doc = await self.client.get(url, _token(request))
        except FetchFailed as exc:
            return _KeyResult(failure=f"FHIR server: {exc.reason}", fetched=True)
        if doc is None:
            return _KeyResult(fetched=True)  # a read that found nothing: no data
        if doc.get("resourceType") == "OperationOutcome":
            return _KeyResult(failure="FHIR server answered an OperationOutcome", fetched=True)
        result = _KeyResult(fetched=True)
        if budget.take(result, _from_prefetch(doc).resources) and _next_link(doc):
            more = await self._continue(request, doc, budget, first_page_included=True)
            result.resources.extend(more.resources)
            result.partial = more.partial
        return result

    async def _continue(
        self,
        request: HookRequest,
        bundle: dict[str, Any],
        budget: _Budget,
        *,
        first_page_included: bool = False,
    ) -> _KeyResult:
        """Follow ``next`` links on the same FHIR server, up to the page bound."""
        result = _KeyResult() if first_page_included else _from_prefetch(bundle)
        base = request.fhir_server or ""
        link = _next_link(bundle)
        pages = 1
        result.partial = None
        while link:
            if pages >= self.max_pages:
                result.partial = f"more than {self.max_pages} pages (RADIX_FHIR_MAX_PAGES)"
                break
            url = follow_url(link, base)
            if url is None:
                # Following a link elsewhere would hand the EHR's token to another host.
                result.partial = "a next link outside the FHIR server was not followed"
                break
            try:
                page = await self.client.get(url, _token(request))
            except FetchFailed as exc:
                result.partial = f"FHIR server: {exc.reason}"
                break
            result.fetched = True
            if not page or page.get("resourceType") != "Bundle":
                result.partial = "a next page was not a Bundle"
                break
            if not budget.take(result, bundle_resources(page)):
                break
            link = _next_link(page)
            pages += 1
        return result


def _token(request: HookRequest) -> str | None:
    auth = request.fhir_authorization
    return auth.access_token if auth else None


def _check_shape(key: str, template: str, value: Any) -> None:
    """A prefetch value must be null, an OperationOutcome, or what the template answers."""
    if value is None:
        return
    kind = value.get("resourceType") if isinstance(value, dict) else None
    if kind == "OperationOutcome":
        return
    expected = template_resource_type(template) if is_read(template) else "Bundle"
    if kind != expected:
        raise PrefetchShape(
            f"prefetch.{key} must be null, an OperationOutcome or a {expected}, not {kind!s:.40}."
        )


def _from_prefetch(value: dict[str, Any] | None) -> _KeyResult:
    if value is None:
        return _KeyResult()
    kind = value.get("resourceType")
    if kind == "OperationOutcome":
        return _KeyResult(failure="the CDS client reported an error for this prefetch key")
    if kind == "Bundle":
        # Reached only when there is no fhirServer to follow the next link on.
        partial = "no fhirServer to follow its next link on" if _next_link(value) else None
        return _KeyResult(resources=bundle_resources(value), partial=partial)
    return _KeyResult(resources=[value])


def _refuse_other_patients(result: _KeyResult, patient_id: str) -> None:
    """What a FHIR server answered about another patient makes its key unusable.

    Prefetch was checked when the request was parsed (a 400); here only fetched data is.
    """
    if result.fetched and not result.failure:
        problem = first_foreign(result.resources, patient_id)
        if problem is not None:
            logger.warning("FHIR server answered with another patient's data")
            result.failure = f"the FHIR server answered with another patient's data ({problem})"
            result.resources = []


def _next_link(value: Any) -> str | None:
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return None
    links = value.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def _deduplicate(groups: Any) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for group in groups:
        for resource in group:
            rid = resource.get("id")
            if isinstance(rid, str):
                key = (str(resource.get("resourceType")), rid)
                if key in seen:
                    continue
                seen.add(key)
            out.append(resource)
    return out
