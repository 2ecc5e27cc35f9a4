"""Benchmark: what writing the audit trail costs, per transaction, on the event loop and in all.

Every answered hook call waits for its audit row's commit, and the audit writer commits the rows
of the calls in flight in batches (at 16 connections they alternate between about 1 and 15).
This times one batch's transaction (``Store._write_audit``) on a fresh SQLite database, or on
``--url`` (e.g. PostgreSQL), with rows like a real patient-view call's: the CPU time of the event
loop's thread and of the whole process (SQLite's writer thread included), per transaction and
per row, for batches of 1 and of 15.

CPU time, not wall time: a neighbour taking the core away does not inflate it, so this is the
figure to compare on a noisy machine, where ``ratio.py``'s throughput ratios can move by a fifth
from one run to the next.

    .venv/bin/python bench/audit.py [--transactions 300] [--rounds 3] [--url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from engine import NOW, record_of
from patient_view import sixty_resource_request

from cds_service.app.endpoints import _audit_card
from cds_service.cards import render
from cds_service.clinical.config import ClinicalConfig
from cds_service.clinical.engine import evaluate
from cds_service.clinical.knowledge import load_knowledge
from cds_service.protocol.hook_request import HookRequest
from cds_service.store.audit_record import AuditRecord
from cds_service.store.store import Store

BATCHES = (1, 15)


def patient_view_record() -> AuditRecord:
    """The audit record of the 60-resource patient-view: its card, assessment and version."""
    body = sixty_resource_request()
    request = HookRequest(
        "radix-lumbar-radiculopathy", "patient-view", "bench", body["context"], body["prefetch"]
    )
    knowledge, config = load_knowledge(), ClinicalConfig()
    evaluation = evaluate(
        record_of(body), [], hook="patient-view", now=NOW, knowledge=knowledge, config=config
    )
    response = render(evaluation, request, config)
    assessment = evaluation.assessment
    return AuditRecord(
        hook_instance="bench",
        service_id=request.service_id,
        hook=request.hook,
        received_at=datetime.now(UTC),
        latency_ms=2.5,
        issuer=None,
        tenant=None,
        patient_reference=f"Patient/{request.patient_id}",
        cards=[_audit_card(card, assessment.rules) for card in response["cards"]],
        assessment=assessment.to_extension(),
        knowledge_version=assessment.knowledge_version,
        status_code=200,
    )


async def measure(
    store: Store, record: AuditRecord, size: int, transactions: int
) -> tuple[float, float]:
    """µs of the loop's thread and of the process per transaction of ``size`` rows."""
    loop_started, process_started = time.thread_time(), time.process_time()
    for _ in range(transactions):
        batch = [replace(record, hook_instance=str(uuid.uuid4())) for _ in range(size)]
        await store._write_audit(batch)
    return (
        (time.thread_time() - loop_started) / transactions * 1e6,
        (time.process_time() - process_started) / transactions * 1e6,
    )


async def run(url: str, transactions: int, rounds: int) -> None:
    record = patient_view_record()
    async with Store(url) as store:
        await measure(store, record, 15, 20)  # warm-up: connections, statement caches
        results: dict[int, list[tuple[float, float]]] = {size: [] for size in BATCHES}
        for _ in range(rounds):
            for size in BATCHES:
                results[size].append(await measure(store, record, size, transactions))
    backend = url.split("://")[0]
    print(f"{backend}: {transactions} transactions a batch size, median of {rounds} rounds")
    print("| Rows a transaction | loop µs | process µs | loop µs a row | process µs a row |")
    print("|---|---|---|---|---|")
    for size, figures in results.items():
        on_loop = statistics.median(f[0] for f in figures)
        in_all = statistics.median(f[1] for f in figures)
        per_row = f"{on_loop / size:,.0f} | {in_all / size:,.0f}"
        print(f"| {size} | {on_loop:,.0f} | {in_all:,.0f} | {per_row} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--url", help="a migrated database (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite+aiosqlite:///{Path(folder) / 'radix.sqlite3'}"
        asyncio.run(run(url, args.transactions, args.rounds))


if __name__ == "__main__":
    main()
