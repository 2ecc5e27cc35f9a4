"""Benchmark: the machine instructions a hook call costs, counted by valgrind, against the baseline.

``ratio.py`` measures throughput, which a noisy machine moves by a fifth from one run to the next
(and by half from one evening to the next): too coarse to tell a change of a few per cent. This
counts instructions instead (valgrind's callgrind): a busy machine slows a run down but does not
change its count. For each target it runs, under valgrind, a process that builds the app, starts
its lifespan (SQLite in a temporary folder, the audit writer's thread: every thread is counted),
warms up and then makes ``--calls`` calls, 16 at a time, straight into the ASGI app (no HTTP
server: the baseline's and Radix's would be the same one); once more with three times as many
calls; the difference over the added calls is the cost of one, start-up excluded. Targets:

- ``baseline``: ``ratio.py``'s bare Starlette app (reads the body, decodes it with orjson, answers
  a JSON body of Radix's size);
- ``patient-view``, ``order-select``: Radix, authentication off, on ``ratio.py``'s realistic
  64 KB requests;
- ``patient-view:parse``: only the advisor's parse of that body (decoding, limits, schema, the
  patient check), one call after the other;
- ``patient-view:respond``: only the advisor's answer to a request parsed once (gathering,
  evaluating, rendering), one call after the other. What the whole call costs beyond these two
  is the rest: the framework and middleware, the access line and metrics, reading the body, the
  audit row and its commit, freeing the request.

Clinical notes are off (``RADIX_NOTES_ENABLED=false``): loading spaCy under valgrind takes minutes,
and these requests hold no note to read. The garbage collector is set as ``cds-service serve``
sets it (start-up frozen, the youngest generation's threshold raised).

    .venv/bin/python bench/instructions.py [--calls 50] [--only baseline,patient-view]

Run it on purpose (a few minutes a target), not in CI. The instructions of a call are not its time
(cache misses and the GIL's hand-offs cost time without instructions), but a change that removes
instructions removes time, and this tells how many. Repeated on one tree, the baseline read within
0.5 % and Radix's patient-view within 1.5 % (its audit writer batches the rows of the calls in
flight, and how many a batch takes depends on timing): a smaller change needs several runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ratio import SERVICES, baseline_app, hook_request  # also puts the checkout on sys.path

from cds_service.cli import settle_gc
from tests.asgi import post

STAGES = ("patient-view:parse", "patient-view:respond")
TARGETS = ("baseline", *SERVICES, *STAGES)
#: Calls in flight at once, as wrk's 16 connections in ``ratio.py``.
IN_FLIGHT = 16
WARM_UP = 200
_COLLECTED = re.compile(r"Collected : (\d+)")


async def _calls(app: Any, path: str, body: bytes, count: int) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one() -> None:
        async with gate:
            status, _ = await post(app, path, body)
            if status != 200:
                raise SystemExit(f"{path} answered {status}")

    await asyncio.gather(*(one() for _ in range(count)))


async def _run(target: str, calls: int, response_size: int) -> None:
    """The process valgrind counts: build, start, warm up, then ``calls`` calls."""
    if target == "baseline":
        app = baseline_app()
        path = f"{SERVICES['patient-view']}/{response_size}"
        body = _body("patient-view")
        await _calls(app, path, body, WARM_UP)
        settle_gc()
        await _calls(app, path, body, calls)
        return
    from cds_service.app.application import create_app

    app = create_app()
    hook, _, stage = target.partition(":")
    body = _body(hook)
    async with app.router.lifespan_context(app):
        if stage:
            await _stage(app.state.runtime.advisor, stage, SERVICES[hook], body, calls)
            return
        await _calls(app, SERVICES[target], body, WARM_UP)
        settle_gc()
        await _calls(app, SERVICES[target], body, calls)


async def _stage(advisor: Any, stage: str, path: str, body: bytes, calls: int) -> None:
    """``calls`` of one stage of a call, one after the other, after ``WARM_UP`` of them."""
    service_id = path.rsplit("/", 1)[1]
    request = advisor.parse(service_id, body)
    for count in (WARM_UP, calls):
        for _ in range(count):
            if stage == "parse":
                advisor.parse(service_id, body)
            else:
                await advisor.respond(request)
        if count == WARM_UP:
            settle_gc()


def _body(hook: str) -> bytes:
    import orjson

    return orjson.dumps(hook_request(hook))


def _environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADIX_")}
    env.update(
        RADIX_DATA_DIR=str(folder / "data"),
        RADIX_AUTH_REQUIRED="false",
        RADIX_RATE_LIMIT_PER_MINUTE="0",
        RADIX_NOTES_ENABLED="false",
        PYTHONHASHSEED="0",  # the same hashing, so the same instructions, run after run
    )
    return env


def _instructions(target: str, calls: int, size: int, folder: Path) -> int:
    """Instructions of one valgrind run of ``target`` making ``calls`` calls."""
    log = folder / f"{target}-{calls}.log"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={folder / 'callgrind.out'}",
        f"--log-file={log}",
        sys.executable,
        __file__,
        "--run",
        target,
        str(calls),
        str(size),
    ]
    run = subprocess.run(command, env=_environment(folder), capture_output=True, check=False)
    found = _COLLECTED.search(log.read_text()) if log.exists() else None
    if run.returncode != 0 or found is None:
        raise SystemExit(
            f"{target}: valgrind run failed ({run.returncode})\n{run.stderr[-3000:]!r}"
        )
    return int(found.group(1))


def _response_size(folder: Path) -> int:
    """The size of Radix's patient-view answer, which the baseline answers too."""
    from cds_service.app.application import create_app

    os.environ.update(_environment(folder))
    app = create_app()

    async def measure() -> int:
        async with app.router.lifespan_context(app):
            status, answer = await post(app, SERVICES["patient-view"], _body("patient-view"))
            if status != 200:
                raise SystemExit(f"patient-view answered {status}")
            return len(answer)

    return asyncio.run(measure())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="calls of the shorter run")
    parser.add_argument("--only", default=",".join(TARGETS), help=f"of: {', '.join(TARGETS)}")
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        asyncio.run(_run(args.run[0], int(args.run[1]), int(args.run[2])))
        return
    only = [t.strip() for t in args.only.split(",") if t.strip()]
    if set(only) - set(TARGETS):
        parser.error(f"unknown target(s): {', '.join(sorted(set(only) - set(TARGETS)))}")
    with tempfile.TemporaryDirectory(prefix="radix-instructions-") as tmp:
        folder = Path(tmp)
        size = _response_size(folder)
        per_call: dict[str, float] = {}
        for target in only:
            few, many = args.calls, 3 * args.calls
            counts = [_instructions(target, n, size, folder) for n in (few, many)]
            per_call[target] = (counts[1] - counts[0]) / (many - few)
            print(f"{target}: {per_call[target] / 1e6:.3f} M instructions a call", flush=True)
    print(f"\n{args.calls} and {3 * args.calls} calls, {IN_FLIGHT} in flight, in the process")
    print("| Target | M instructions a call | × baseline |\n|---|---|---|")
    for target, value in per_call.items():
        versus = f"{value / per_call['baseline']:.2f}×" if per_call.get("baseline") else "n/a"
        print(f"| {target} | {value / 1e6:.3f} | {versus} |")
    if all(t in per_call for t in ("patient-view", *STAGES)):
        rest = per_call["patient-view"] - sum(per_call[t] for t in STAGES)
        print(f"| patient-view, the rest | {rest / 1e6:.3f} | |")


if __name__ == "__main__":
    main()
