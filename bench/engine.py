"""Benchmark: the pure clinical engine and cards stage on the 60-resource patient-view record.

    .venv/bin/python bench/engine.py [--runs 500]

Separates the cost of the rules (``evaluate``) and of rendering (``render``: card text and
the suggested ServiceRequests) from the HTTP stack that ``patient_view.py`` measures as a whole.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from patient_view import sixty_resource_request

from cds_service.cards import render
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import load_knowledge
from cds_service.protocol.hook_request import HookRequest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    args = parser.parse_args()

    body = sixty_resource_request()
    record = [body["prefetch"]["patient"]] + [
        entry["resource"]
        for key, value in body["prefetch"].items()
        if key != "patient"
        for entry in value.get("entry", [])
    ]
    request = HookRequest("radix-lumbar-radiculopathy", "patient-view", "bench",
                          body["context"], body["prefetch"])
    knowledge, config = load_knowledge(), ClinicalConfig()
    now = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)

    evaluations, renders = [], []
    for run in range(args.runs + 20):
        started = time.perf_counter()
        evaluation = evaluate(record, [], hook="patient-view", now=now, knowledge=knowledge,
                              config=config)
        middle = time.perf_counter()
        render(evaluation, request, config)
        ended = time.perf_counter()
        if run >= 20:  # warm-up
            evaluations.append((middle - started) * 1000)
            renders.append((ended - middle) * 1000)
    print(f"{len(record)} resources, {args.runs} runs")
    print(f"evaluate: median {statistics.median(evaluations):.2f} ms")
    print(f"render:   median {statistics.median(renders):.2f} ms")


if __name__ == "__main__":
    main()
