"""Benchmark: the pure clinical engine and cards stage on the 60-resource patient-view record,
and the engine's cost per added Observation as a record grows.

    .venv/bin/python bench/engine.py [--runs 500] [--rounds 7] [--no-scaling] [--no-gc-freeze]

Separates the cost of the rules (``evaluate``) and of rendering (``render``: card text and
the suggested ServiceRequests) from the HTTP stack that ``patient_view.py``
measures as a whole.

Scaling: a realistic patient-view record (Patient, 10 Conditions, 3 Procedures) with 0, 10, 50,
200 and 1000 exam and vital-sign Observations. Each call gets a freshly decoded record (decoded
outside the timed part), so the cyclic GC meets young request objects as it does in the server;
start-up objects are frozen out of the GC after warm-up (``--no-gc-freeze`` leaves them in).
Sizes alternate within each round and the figure per size is the median over rounds of each
round's mean, so a noisy neighbour moves every size alike; time is the process's CPU time,
which a neighbour taking the core away does not inflate as it does wall time. It prints µs per
added Observation (beyond the record without Observations) and the growth exponent: the log-log
slope of that added time against the number of Observations (1.0 = linear).
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from patient_view import sixty_resource_request

from cds_service.cards import render
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import Knowledge, load_knowledge
from cds_service.protocol.hook_request import HookRequest

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
SIZES = (0, 10, 50, 200, 1000)
# Calls per size and round: about the same wall time for each size.
_CALLS = {0: 200, 10: 200, 50: 100, 200: 40, 1000: 10}

_SCT = "http://snomed.info/sct"
_ICD = "http://hl7.org/fhir/sid/icd-10-cm"
_LOINC = "http://loinc.org"
_EXAM = "https://radix-cds.org/fhir/CodeSystem/neuro-exam"
_LEFT = {"coding": [{"system": _SCT, "code": "7771000", "display": "Left"}], "text": "Left"}
#: The problem list: two of Radix's concepts among the usual chronic conditions.
_CONDITIONS = (
    (_ICD, "I10", "Essential (primary) hypertension"),
    (_ICD, "E78.5", "Hyperlipidemia, unspecified"),
    (_ICD, "M54.16", "Radiculopathy, lumbar region"),
    (_SCT, "279039007", "Low back pain"),
    (_ICD, "E11.9", "Type 2 diabetes mellitus without complications"),
    (_ICD, "K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    (_ICD, "M17.11", "Unilateral primary osteoarthritis, right knee"),
    (_ICD, "J45.909", "Unspecified asthma, uncomplicated"),
    (_ICD, "F32.9", "Major depressive disorder, single episode, unspecified"),
    (_ICD, "E03.9", "Hypothyroidism, unspecified"),
)
_PROCEDURES = (
    (_SCT, "410158009", "Physiotherapy assessment"),
    (_SCT, "80146002", "Appendectomy"),
    (_SCT, "73761001", "Colonoscopy"),
)
#: One visit's Observations: vital signs, then an exam of the left leg (an L4 radiculopathy).
_VISIT: tuple[tuple[str, str, str, str, Any], ...] = (
    (
        _LOINC,
        "8310-5",
        "Body temperature",
        "valueQuantity",
        {"value": 36.8, "unit": "Cel", "system": "http://unitsofmeasure.org", "code": "Cel"},
    ),
    (
        _LOINC,
        "8867-4",
        "Heart rate",
        "valueQuantity",
        {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"},
    ),
    (
        _LOINC,
        "29463-7",
        "Body weight",
        "valueQuantity",
        {"value": 78.4, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
    ),
    (_EXAM, "reflex-patellar", "Patellar reflex", "valueInteger", 1),
    (_EXAM, "strength-knee-extension", "Knee extension strength (MRC)", "valueInteger", 4),
    (
        _EXAM,
        "sensation-medial-ankle",
        "Sensation, medial ankle",
        "valueCodeableConcept",
        {"coding": [{"system": _EXAM, "code": "reduced", "display": "Reduced"}], "text": "Reduced"},
    ),
    (_EXAM, "straight-leg-raise", "Straight leg raise", "valueBoolean", False),
    (_EXAM, "femoral-nerve-stretch", "Femoral nerve stretch test", "valueBoolean", True),
)


def scaled_request(observations: int) -> dict[str, Any]:
    """A patient-view request: Patient, 10 Conditions, 3 Procedures and ``observations``
    Observations, a visit's worth a week, most recent first (8 per visit)."""
    patient = {
        "resourceType": "Patient",
        "id": "bench-pat",
        "gender": "male",
        "birthDate": "1971-03-14",
        "name": [{"family": "Haddad", "given": ["Omar"]}],
    }
    subject = {"reference": "Patient/bench-pat"}
    conditions = [
        {
            "resourceType": "Condition",
            "id": f"bench-cond{n}",
            "subject": subject,
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": {"coding": [{"system": system, "code": code, "display": text}], "text": text},
            "onsetDateTime": f"20{14 + n}-0{1 + n % 9}-1{n}",
            "recordedDate": f"20{14 + n}-06-03",
        }
        for n, (system, code, text) in enumerate(_CONDITIONS)
    ]
    procedures = [
        {
            "resourceType": "Procedure",
            "id": f"bench-proc{n}",
            "status": "completed",
            "subject": subject,
            "performedDateTime": f"2026-{9 - 3 * n:02d}-15T10:00:00+02:00",
            "code": {"coding": [{"system": system, "code": code, "display": text}], "text": text},
        }
        for n, (system, code, text) in enumerate(_PROCEDURES)
    ]
    return {
        "hook": "patient-view",
        "hookInstance": "bench-scaling",
        "context": {"userId": "Practitioner/bench", "patientId": "bench-pat"},
        "prefetch": {
            "patient": patient,
            "conditions": _bundle(conditions),
            "observations": _bundle([_observation(n, subject) for n in range(observations)]),
            "procedures": _bundle(procedures),
        },
    }


def _observation(n: int, subject: dict[str, str]) -> dict[str, Any]:
    system, code, text, key, value = _VISIT[n % len(_VISIT)]
    visit = n // len(_VISIT)
    day = NOW.toordinal() - 7 * visit
    date = datetime.fromordinal(day).date().isoformat()
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"bench-obs{n}",
        "status": "final",
        "subject": subject,
        "code": {"coding": [{"system": system, "code": code, "display": text}], "text": text},
        "effectiveDateTime": f"{date}T08:00:00Z",
        key: value,
    }
    if system == _EXAM:  # examined after the vital signs were taken, all at one instant
        resource["effectiveDateTime"] = f"{date}T08:30:00+01:00"
        resource["bodySite"] = _LEFT
    return resource


def _bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def record_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The prefetch as the engine gets it: the Patient, then every Bundle's resources."""
    prefetch = body["prefetch"]
    return [prefetch["patient"]] + [
        entry["resource"]
        for key, value in prefetch.items()
        if key != "patient" and isinstance(value, dict)
        for entry in value.get("entry", [])
    ]


def scaling(
    knowledge: Knowledge, config: ClinicalConfig, rounds: int, freeze: bool = True
) -> dict[int, float]:
    """Seconds of one ``evaluate`` per number of Observations (median over rounds)."""
    payloads = {size: orjson.dumps(scaled_request(size)) for size in SIZES}

    def call(payload: bytes) -> float:
        record = record_of(orjson.loads(payload))  # a fresh request's objects, untimed
        started = time.process_time()
        evaluate(record, [], hook="patient-view", now=NOW, knowledge=knowledge, config=config)
        return time.process_time() - started

    for payload in payloads.values():  # warm-up, then start-up objects out of the GC
        for _ in range(3):
            call(payload)
    if freeze:
        gc.collect()
        gc.freeze()
    means: dict[int, list[float]] = {size: [] for size in SIZES}
    for round_ in range(rounds):
        order = SIZES if round_ % 2 == 0 else tuple(reversed(SIZES))
        for size in order:
            means[size].append(_mean_of(call, payloads[size], _CALLS[size]))
    return {size: statistics.median(values) for size, values in means.items()}


def _mean_of(call: Callable[[bytes], float], payload: bytes, calls: int) -> float:
    # The mean, not the median: a GC pass inside a call is part of what the engine costs.
    return statistics.fmean(call(payload) for _ in range(calls))


def growth_exponent(sizes: Sequence[int], added: Sequence[float]) -> float:
    """Least-squares slope of log(added time) against log(size)."""
    xs, ys = [math.log(s) for s in sizes], [math.log(max(a, 1e-9)) for a in added]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def print_scaling(times: dict[int, float]) -> None:
    base = times[0]
    sizes = [s for s in SIZES if s]
    added = [times[s] - base for s in sizes]
    print(
        f"\nscaling (Patient, 10 Conditions, 3 Procedures + N Observations); "
        f"without Observations {base * 1e3:.2f} ms"
    )
    print("  N     evaluate   µs per added Observation   marginal µs   local exponent")
    previous = None
    for size, extra in zip(sizes, added, strict=True):
        marginal = local = ""
        if previous is not None:
            last_size, last_extra = previous
            marginal = f"{(extra - last_extra) / (size - last_size) * 1e6:.1f}"
            local = f"{growth_exponent((last_size, size), (last_extra, extra)):.2f}"
        print(
            f"  {size:<5} {times[size] * 1e3:7.2f} ms {extra / size * 1e6:14.1f}"
            f" {marginal:>22} {local:>16}"
        )
        previous = (size, extra)
    print(f"growth exponent (log-log fit, 10-1000): {growth_exponent(sizes, added):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=7, help="scaling rounds (median of)")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument(
        "--no-gc-freeze",
        action="store_true",
        help="scaling with start-up objects left in the GC's way",
    )
    args = parser.parse_args()

    body = sixty_resource_request()
    record = record_of(body)
    request = HookRequest(
        "radix-lumbar-radiculopathy", "patient-view", "bench", body["context"], body["prefetch"]
    )
    knowledge, config = load_knowledge(), ClinicalConfig()

    evaluations, renders = [], []
    for run in range(args.runs + 20):
        started = time.perf_counter()
        evaluation = evaluate(
            record, [], hook="patient-view", now=NOW, knowledge=knowledge, config=config
        )
        middle = time.perf_counter()
        render(evaluation, request, config)
        ended = time.perf_counter()
        if run >= 20:  # warm-up
            evaluations.append((middle - started) * 1000)
            renders.append((ended - middle) * 1000)
    print(f"{len(record)} resources, {args.runs} runs")
    print(f"evaluate: median {statistics.median(evaluations):.2f} ms")
    print(f"render:   median {statistics.median(renders):.2f} ms")
    if not args.no_scaling:
        print_scaling(scaling(knowledge, config, args.rounds, not args.no_gc_freeze))


if __name__ == "__main__":
    main()
