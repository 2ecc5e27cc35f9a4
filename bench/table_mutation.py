"""Mutation testing of the clinical engine's module-level rule tables, which mutmut never mutates.

    nice -n 10 .venv/bin/python bench/table_mutation.py [--workers 2] [--module localisation]
    .venv/bin/python bench/table_mutation.py --list          # the mutants, without running them

mutmut mutates function bodies only; the rules also live in module-level tables (WEIGHTS,
DISC_LEVELS, TIERS, MUSCLE_ROOTS, _CARE_STATUS, ...) and in ClinicalConfig's defaults. For every
module-level assignment of ``cds_service/clinical/*.py`` this script makes one mutant per entry
deleted from a dict, set, list or tuple display, per number shifted (an int by 1, a float by 0.5)
and per string value of a dict wrapped in "XX". Each mutant is written into a private copy of
the checkout and tests/clinical + tests/cards run against it (``-x``: the first failure kills
it). Every worker forks from one process that has already imported the third-party packages,
so a mutant costs its tests, not a fresh interpreter.

It prints killed / survived per module and every survivor by a stable id. Survivors listed in
the equivalents file (``tests/mutation/equivalents.md``, one id in backticks per line) count as
equivalent; the score is killed / (mutants - equivalent), and a survivor not listed there makes
the exit status 1. Results also go to bench/results/table-mutation.json.

    .venv/bin/python bench/table_mutation.py --survivors   # again, only the last survivors
    .venv/bin/python bench/table_mutation.py --reset-mutmut-survivors   # before `mutmut run`
    .venv/bin/python bench/table_mutation.py --score   # mutmut's run and this one, per module
"""

from __future__ import annotations

import argparse
import ast
import copy
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLINICAL = Path("cds_service/clinical")
TESTS = ("tests/clinical", "tests/cards")
EQUIVALENTS = ROOT / "tests/mutation/equivalents.md"
RESULTS = ROOT / "bench/results/table-mutation.json"
# What a worker copies: the package, the tests and the data the tests read.
_COPIED = (
    "cds_service",
    "tests",
    "hooks",
    "valuesets",
    "examples",
    "docs",
    "README.md",
    "pyproject.toml",
)
# Calls whose arguments are rule data; any other call (re.compile, Path(...)) is left alone.
_DATA_CALLS = frozenset(
    {"frozenset", "set", "tuple", "dict", "fromkeys", "MappingProxyType", "timedelta"}
)
# Class bodies holding rule data: the thresholds' defaults.
_CLASS_TABLES = frozenset({"ClinicalConfig"})
_PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts="]
# Slow property-based and knowledge-base tests last: a mutant is usually killed before them.
_SLOW_LAST = ("_properties.py", "test_knowledge.py")

Step = tuple[str, int | None]  # (field, index) from a statement down to a node


@dataclass(frozen=True)
class Mutant:
    id: str  # "localisation.WEIGHTS['strength-hip-flexion']['L3']: 1.0 -> 1.5"
    module: str  # "localisation"
    line: int
    statement: int  # index of the statement in the module (or class) body
    member: int | None  # index inside ClinicalConfig's body, for its defaults
    path: tuple[Step, ...]
    op: str  # "delete", "shift", "string"
    index: int | None = None  # the element deleted


# --- finding the mutants ---------------------------------------------------------------------


def mutants(module_filter: str | None = None) -> list[Mutant]:
    found: list[Mutant] = []
    skipped = _do_not_mutate()
    for source in sorted((ROOT / CLINICAL).glob("*.py")):
        module = source.stem
        relative = str(source.relative_to(ROOT))
        if (module_filter and module != module_filter) or any(
            fnmatch.fnmatch(relative, pattern) for pattern in skipped
        ):
            continue
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for index, stmt in enumerate(tree.body):
            if isinstance(stmt, ast.ClassDef) and stmt.name in _CLASS_TABLES:
                for member, inner in enumerate(stmt.body):
                    name = _target(inner)
                    if name and inner.value is not None:  # type: ignore[attr-defined]
                        label = f"{module}.{stmt.name}.{name}"
                        found.extend(_walk(inner, label, module, index, member))
                continue
            name = _target(stmt)
            if name and not name.startswith("__"):
                found.extend(_walk(stmt, f"{module}.{name}", module, index, None))
    return _unique(found)


def _do_not_mutate() -> list[str]:
    """The modules ``[tool.mutmut] do_not_mutate`` leaves out: the same for both tools."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file).get("tool", {}).get("mutmut", {}).get("do_not_mutate", []))


def _unique(found: list[Mutant]) -> list[Mutant]:
    """The same text twice in one table (two equal numbers) gets "#2", "#3" on its id."""
    seen: Counter[str] = Counter()
    unique = []
    for mutant in found:
        seen[mutant.id] += 1
        count = seen[mutant.id]
        unique.append(mutant if count == 1 else replace(mutant, id=f"{mutant.id} #{count}"))
    return unique


def _target(stmt: ast.stmt) -> str | None:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target = stmt.target
    else:
        return None
    return target.id if isinstance(target, ast.Name) else None


def _walk(
    stmt: ast.stmt, label: str, module: str, index: int, member: int | None
) -> Iterator[Mutant]:
    def visit(node: ast.AST, path: tuple[Step, ...], where: str) -> Iterator[Mutant]:
        def make(op: str, text: str, at: int | None = None) -> Mutant:
            line = getattr(node, "lineno", stmt.lineno)
            return Mutant(f"{where}: {text}", module, line, index, member, path, op, at)

        if isinstance(node, ast.Dict):
            for i, (key, value) in enumerate(zip(node.keys, node.values, strict=True)):
                shown = ast.unparse(key) if key is not None else f"**{ast.unparse(value)}"
                yield make("delete", f"delete {shown}", i)
                if key is not None:
                    sub = f"{where}[{ast.unparse(key)}]"
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        yield Mutant(
                            f"{sub}: {value.value!r} -> 'XX{value.value}XX'",
                            module,
                            value.lineno,
                            index,
                            member,
                            (*path, ("values", i)),
                            "string",
                        )
                    else:
                        yield from visit(value, (*path, ("values", i)), sub)
                else:
                    yield from visit(value, (*path, ("values", i)), where)
        elif isinstance(node, ast.Set | ast.List | ast.Tuple):
            for i, element in enumerate(node.elts):
                yield make("delete", f"delete {ast.unparse(element)}", i)
                if not isinstance(element, ast.Constant) or not isinstance(element.value, str):
                    yield from visit(element, (*path, ("elts", i)), f"{where}[{i}]")
        elif isinstance(node, ast.Call) and _call_name(node) in _DATA_CALLS:
            for i, arg in enumerate(node.args):
                yield from visit(arg, (*path, ("args", i)), where)
            for i, keyword in enumerate(node.keywords):
                yield from visit(
                    keyword.value,
                    (*path, ("keywords", i), ("value", None)),
                    f"{where}({keyword.arg}=)",
                )
        elif isinstance(node, ast.Call) and _call_name(node) == "field":
            # A dataclass field's default (ClinicalConfig's thresholds); its metadata holds the
            # bounds a setting is validated against, not rule data.
            for i, keyword in enumerate(node.keywords):
                if keyword.arg == "default":
                    yield from visit(
                        keyword.value, (*path, ("keywords", i), ("value", None)), where
                    )
        elif isinstance(node, ast.BinOp):
            yield from visit(node.left, (*path, ("left", None)), where)
            yield from visit(node.right, (*path, ("right", None)), where)
        elif isinstance(node, ast.Constant) and _is_number(node.value):
            yield make("shift", f"{node.value!r} -> {_shifted(node.value)!r}")

    value = stmt.value  # type: ignore[attr-defined]
    yield from visit(value, (("value", None),), label)


def _call_name(call: ast.Call) -> str:
    func = call.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shifted(value: float) -> float:
    return value + 1 if isinstance(value, int) else value + 0.5


# --- applying one ----------------------------------------------------------------------------


def mutated_source(source: str, mutant: Mutant) -> str:
    tree = ast.parse(source)
    stmt = tree.body[mutant.statement]
    if mutant.member is not None:
        stmt = stmt.body[mutant.member]  # type: ignore[attr-defined]
    changed = copy.deepcopy(stmt)
    node: ast.AST = changed
    for field, index in mutant.path:
        node = getattr(node, field)
        if index is not None:
            node = node[index]  # type: ignore[index]
    if mutant.op == "delete":
        assert mutant.index is not None
        if isinstance(node, ast.Dict):
            del node.keys[mutant.index], node.values[mutant.index]
        else:
            del node.elts[mutant.index]  # type: ignore[attr-defined]
    elif mutant.op == "shift":
        node.value = _shifted(node.value)  # type: ignore[attr-defined]
    else:
        node.value = f"XX{node.value}XX"  # type: ignore[attr-defined]
    lines = source.splitlines(keepends=True)
    indent = " " * stmt.col_offset
    text = indent + ast.unparse(changed).replace("\n", "\n" + indent) + "\n"
    start, end = stmt.lineno - 1, stmt.end_lineno or stmt.lineno
    return "".join([*lines[:start], text, *lines[end:]])


# --- running ---------------------------------------------------------------------------------


def _preload() -> None:
    """Import, once, every third-party module the tests import, so each fork starts warm."""
    probe = (
        "import sys, pytest\n"
        f"pytest.main({['--collect-only', '-q', '-p', 'no:cacheprovider', *TESTS]!r}, "
        "plugins=[])\n"
        "print('\\n'.join(m for m in sys.modules if not m.startswith(('cds_service', 'tests',"
        " '__main__', 'conftest'))), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    for name in done.stderr.split():
        if re.fullmatch(r"[\w.]+", name):
            try:
                __import__(name)
            except Exception:  # a module that fails to load here loads in the child, or not
                continue


def _workspace() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="radix-table-mutation-"))
    for name in _COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source,
                folder / name,
                ignore=shutil.ignore_patterns("__pycache__", "node_modules", ".hypothesis"),
            )
        elif source.exists():
            shutil.copy2(source, folder / name)
    return folder


def _fork_tests(workspace: Path) -> int:
    pid = os.fork()
    if pid:
        return pid
    try:
        os.chdir(workspace)
        sys.path.insert(0, str(workspace))
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        import pytest

        code = int(pytest.main([*_PYTEST_ARGS, *_test_files()]))
    except BaseException:  # whatever happens, the child must not return into the loop
        code = 3
    os._exit(code)


def _test_files() -> list[str]:
    files = sorted(str(f) for folder in TESTS for f in Path(folder).glob("test_*.py"))
    return sorted(files, key=lambda f: f.endswith(_SLOW_LAST))


def run(selected: list[Mutant], workers: int) -> tuple[dict[str, str], float]:
    _preload()
    spaces = [_workspace() for _ in range(workers)]
    try:
        started = time.monotonic()
        pid = _fork_tests(spaces[0])
        _, status = os.waitpid(pid, 0)
        baseline = time.monotonic() - started
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit("the tests fail on the unmutated code: fix them first")
        timeout = max(60.0, 5 * baseline)
        print(f"baseline {baseline:.0f} s; {len(selected)} mutants, {workers} workers", flush=True)
        return _run_all(selected, spaces, timeout), baseline
    finally:
        for space in spaces:
            shutil.rmtree(space, ignore_errors=True)


def _run_all(selected: list[Mutant], spaces: list[Path], timeout: float) -> dict[str, str]:
    outcome: dict[str, str] = {}
    queue = list(selected)
    running: dict[int, tuple[Mutant, Path, str, float]] = {}
    free = list(spaces)
    while queue or running:
        while queue and free:
            mutant, space = queue.pop(0), free.pop()
            target = space / CLINICAL / f"{mutant.module}.py"
            original = target.read_text(encoding="utf-8")
            target.write_text(mutated_source(original, mutant), encoding="utf-8")
            running[_fork_tests(space)] = (mutant, space, original, time.monotonic())
        pid, status = _wait(running, timeout)
        mutant, space, original, _ = running.pop(pid)
        (space / CLINICAL / f"{mutant.module}.py").write_text(original, encoding="utf-8")
        free.append(space)
        code = os.waitstatus_to_exitcode(status) if status is not None else None
        outcome[mutant.id] = "timeout" if code is None else "survived" if code == 0 else "killed"
        print(f"{len(outcome):4}/{len(selected)} {outcome[mutant.id]:8} {mutant.id}", flush=True)
    return outcome


def _wait(
    running: dict[int, tuple[Mutant, Path, str, float]], timeout: float
) -> tuple[int, int | None]:
    while True:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid:
            return pid, status
        now = time.monotonic()
        for child, (_, _, _, began) in running.items():
            if now - began > timeout:
                os.kill(child, signal.SIGKILL)
                os.waitpid(child, 0)
                return child, None
        time.sleep(0.05)


# --- reporting -------------------------------------------------------------------------------


def equivalent_ids(path: Path = EQUIVALENTS) -> set[str]:
    """Ids in backticks at the start of a list item of the equivalents file."""
    if not path.exists():
        return set()
    return set(re.findall(r"^- `([^`]+)`", path.read_text(encoding="utf-8"), re.MULTILINE))


def report(selected: list[Mutant], outcome: dict[str, str], equivalent: set[str]) -> int:
    per_module: dict[str, Counter[str]] = {}
    unexplained: list[Mutant] = []
    for mutant in selected:
        state = outcome[mutant.id]
        if state == "survived" and mutant.id in equivalent:
            state = "equivalent"
        elif state == "survived":
            unexplained.append(mutant)
        per_module.setdefault(mutant.module, Counter())[state] += 1
    print(f"\n{'module':14} {'mutants':>7} {'killed':>6} {'equiv':>5} {'survived':>8} {'score':>7}")
    for module, counts in sorted(per_module.items()):
        total = sum(counts.values())
        killed = counts["killed"] + counts["timeout"]
        relevant = total - counts["equivalent"]
        score = f"{100 * killed / relevant:.1f} %" if relevant else "-"
        print(
            f"{module:14} {total:7} {killed:6} {counts['equivalent']:5} "
            f"{counts['survived']:8} {score:>7}"
        )
    for mutant in unexplained:
        print(f"SURVIVED {CLINICAL / mutant.module}.py:{mutant.line} `{mutant.id}`")
    return 1 if unexplained else 0


# mutmut's exit codes (mutmut/stats.py): a test failed, crashed or ran out of time = killed.
_MUTMUT_KILLED = frozenset({1, 3, 24, -24, 36, 152, 255, -9, -11})
_MUTMUT_SURVIVED = frozenset({0, 5, 33})  # survived, or no test reaches it


def score(mutants_dir: Path, equivalent: set[str]) -> int:
    """Per module: mutmut's verdicts (mutants/) and this script's (bench/results), together."""
    counts: dict[str, Counter[str]] = {}
    unexplained: list[str] = []
    for meta in sorted((mutants_dir / CLINICAL).glob("*.py.meta")):
        module = meta.name.removesuffix(".py.meta")
        verdicts = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        for name, code in verdicts.items():
            state = (
                "killed"
                if code in _MUTMUT_KILLED
                else "unchecked"
                if code is None
                else "survived"
                if code in _MUTMUT_SURVIVED
                else "suspicious"
            )
            if state == "survived" and name in equivalent:
                state = "equivalent"
            elif state in ("survived", "suspicious"):
                unexplained.append(name)
            counts.setdefault(module, Counter())[state] += 1
    if RESULTS.exists():
        for row in json.loads(RESULTS.read_text(encoding="utf-8"))["mutants"]:
            state = "killed" if row["outcome"] in ("killed", "timeout") else row["outcome"]
            if state == "survived" and row["id"] in equivalent:
                state = "equivalent"
            elif state == "survived":
                unexplained.append(row["id"])
            counts.setdefault(row["module"], Counter())[state] += 1
    print(
        f"{'module':14} {'mutants':>7} {'killed':>6} {'equiv':>5} {'survived':>8} "
        f"{'unchecked':>9} {'score':>7}"
    )
    for module, c in sorted(counts.items()):
        total = sum(c.values())
        relevant = c["killed"] + c["survived"] + c["suspicious"]
        shown = f"{100 * c['killed'] / relevant:.1f} %" if relevant else "-"
        print(
            f"{module:14} {total:7} {c['killed']:6} {c['equivalent']:5} "
            f"{c['survived'] + c['suspicious']:8} {c['unchecked']:9} {shown:>7}"
        )
    for name in unexplained:
        print(f"SURVIVED `{name}`")
    return 1 if unexplained else 0


def reset_mutmut_survivors(mutants_dir: Path) -> int:
    """Mark mutmut's survivors unchecked, so that the next ``mutmut run`` tests them again.

    mutmut keeps its verdicts while a function's code is unchanged, new tests or not.
    """
    count = 0
    for meta in (mutants_dir / CLINICAL).glob("*.py.meta"):
        data = json.loads(meta.read_text(encoding="utf-8"))
        verdicts = data["exit_code_by_key"]
        for name, code in verdicts.items():
            if code in _MUTMUT_SURVIVED:
                verdicts[name] = None
                count += 1
        meta.write_text(json.dumps(data), encoding="utf-8")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--module", help="only this module of cds_service/clinical, e.g. exam")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--match", help="only mutants whose id contains this text")
    parser.add_argument(
        "--survivors",
        action="store_true",
        help="run again only the last run's survivors (after adding tests)",
    )
    parser.add_argument(
        "--reset-mutmut-survivors",
        action="store_true",
        help="make the next `mutmut run` test mutmut's survivors again",
    )
    parser.add_argument(
        "--score",
        action="store_true",
        help="print the score per module of mutmut's run and this script's last",
    )
    args = parser.parse_args()

    if args.reset_mutmut_survivors:
        print(f"{reset_mutmut_survivors(ROOT / 'mutants')} survivors to test again")
        return
    if args.score:
        sys.exit(score(ROOT / "mutants", equivalent_ids()))

    selected = mutants(args.module)
    if args.match:
        selected = [m for m in selected if args.match in m.id]
    previous = json.loads(RESULTS.read_text(encoding="utf-8")) if args.survivors else None
    if previous is not None:
        survived = {row["id"] for row in previous["mutants"] if row["outcome"] == "survived"}
        selected = [m for m in selected if m.id in survived]
    if args.list:
        for mutant in selected:
            print(f"{CLINICAL / mutant.module}.py:{mutant.line} `{mutant.id}`")
        print(f"{len(selected)} mutants")
        return
    started = time.monotonic()
    outcome, baseline = run(selected, max(1, args.workers))
    took = time.monotonic() - started
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    rows = [{**asdict(m), "outcome": outcome[m.id]} for m in selected]
    if previous is not None:  # the full run's verdicts, with the survivors' new ones
        rows = [
            {**row, "outcome": outcome.get(row["id"], row["outcome"])}
            for row in previous["mutants"]
        ]
        outcome = {row["id"]: row["outcome"] for row in rows}
        selected = [m for m in mutants() if m.id in outcome]
        took, baseline = previous["seconds"], previous["baseline_seconds"]
    RESULTS.write_text(
        json.dumps(
            {"seconds": round(took), "baseline_seconds": round(baseline), "mutants": rows}, indent=1
        ),
        encoding="utf-8",
    )
    status = report(selected, outcome, equivalent_ids())
    print(f"\n{len(selected)} table mutants in {took / 60:.1f} min")
    sys.exit(status)


if __name__ == "__main__":
    main()
