"""Benchmark: reading clinical notes (the notes stage) — per note, and per call of 5 notes.

    .venv/bin/python bench/notes.py [--runs 50]

1. the one-off cost of building the medspaCy pipeline (done once per process at start-up);
2. ms per note parsed (a realistic 600-character progress note, never seen before);
3. ms per hook call's notes stage + engine with 5 notes, uncached (new texts each call) and
   cached (the same chart opened again).
A call without notes does not touch the stage: compare ``bench/engine.py`` before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cds_service.clinical.engine import evaluate  # noqa: E402
from cds_service.clinical.knowledge import load_knowledge  # noqa: E402
from cds_service.notes.reader import NoteReader  # noqa: E402

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
NOTE = (
    "GP consultation\n{n} weeks of left sciatica radiating to the dorsum of the foot, no trauma."
    " Mild low back ache.\nNo saddle anaesthesia, bladder and bowel normal. No fevers, no weight"
    " loss, no history of cancer.\nO/E: antalgic gait. SLR +ve L at 40°, -ve R. Power: EHL 4/5 L,"
    " hip abduction 4/5 L, otherwise 5/5. Reflexes: KJ 2+ and symmetrical, AJ 2+ and"
    " symmetrical. ↓ sensation dorsum L foot.\nImp: L L5 radiculopathy.\nPlan: physiotherapy, stay"
    " active. Safety-netted: return urgently if bladder or bowel problems or saddle numbness."
    " Ref {tag}."
)


def note(ident: str, text: str, days: int) -> dict:
    return {
        "resourceType": "DocumentReference",
        "id": ident,
        "status": "current",
        "docStatus": "final",
        "subject": {"reference": "Patient/bench"},
        "date": (NOW - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain",
                    "data": base64.b64encode(text.encode()).decode(),
                }
            }
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    knowledge = load_knowledge()
    reader = NoteReader(knowledge)
    started = time.perf_counter()
    reader.wait_ready()
    print(
        f"pipeline built (import + build, once per process): "
        f"{(time.perf_counter() - started) * 1000:.0f} ms"
    )

    async def call(tag: str) -> float:
        record = [{"resourceType": "Patient", "id": "bench"}] + [
            note(f"d{i}", NOTE.format(n=i + 2, tag=f"{tag}-{i}"), i) for i in range(5)
        ]
        began = time.perf_counter()
        reading = await reader.read(record, NOW)
        evaluate(
            record,
            [],
            hook="patient-view",
            now=NOW,
            knowledge=knowledge,
            note_findings=reading.findings,
            note_remarks=reading.remarks,
        )
        return (time.perf_counter() - began) * 1000

    async def run() -> None:
        await call("warm-up")
        before = reader.parses
        uncached = [await call(f"u{run}") for run in range(args.runs)]
        per_note = statistics.median(uncached) / 5
        assert reader.parses - before == 5 * args.runs
        cached = [await call("same") for _ in range(args.runs)]
        print(f"note of {len(NOTE)} characters: median {per_note:.1f} ms per note parsed")
        print(
            f"call with 5 notes, uncached: median {statistics.median(uncached):.1f} ms, "
            f"p95 {sorted(uncached)[int(0.95 * len(uncached))]:.1f} ms"
        )
        print(
            f"call with 5 notes, cached:   median {statistics.median(cached):.2f} ms, "
            f"p95 {sorted(cached)[int(0.95 * len(cached))]:.2f} ms"
        )

    asyncio.run(run())


if __name__ == "__main__":
    main()
