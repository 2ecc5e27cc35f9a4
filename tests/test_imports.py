"""The package's import graph, read with ``ast`` (function-level and TYPE_CHECKING imports too).

A hook call flows app → auth → protocol → data → notes → clinical → cards → store. Imports do not
follow that line: each stage imports the stages whose types it consumes (cards renders a clinical
``Evaluation`` for a protocol ``HookRequest``), ``app`` and ``advisor`` compose them, and nothing
imports its way back up to a composer. ``MAY_IMPORT`` is that graph; these tests keep the code in
it, keep every stage behind its facade (its ``__init__``), and keep the graph free of cycles.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "cds_service"
STAGES = frozenset(p.parent.name for p in PACKAGE.glob("*/__init__.py"))

#: Top-level modules any part may import; they import no stage (settings aside, below).
SHARED = frozenset(
    {"errors", "facade", "fhir_json", "lifecycle", "log_format", "metrics", "resources", "settings"}
)

#: What each part may import besides ``SHARED``: a sub-package (stage) or a top-level module.
MAY_IMPORT: dict[str, frozenset[str]] = {
    # The composers: the command line, the ASGI app, and the one-call pipeline they share.
    "cli": frozenset(
        {"app", "auth", "cards", "clinical", "metrics_endpoint", "protocol", "store", "workers"}
    ),
    "app": frozenset({"advisor"}) | STAGES - {"app"},
    "advisor": frozenset({"cards", "clinical", "data", "notes", "protocol"}),
    # The stages, each importing what it consumes.
    "auth": frozenset({"data"}),  # the bounded body reader, for JWK Sets
    "protocol": frozenset(),
    "data": frozenset({"protocol"}),  # the request and service it gathers the record for
    "notes": frozenset({"clinical", "data"}),  # Binaries fetched in, clinical findings out
    "clinical": frozenset(),  # pure: see test_the_clinical_engine_imports_only_the_standard_library
    "cards": frozenset({"clinical", "protocol"}),  # the evaluation, rendered for the request
    "store": frozenset(),
    # Shared modules.
    "settings": frozenset({"clinical"}),  # the thresholds are declared once, in ClinicalConfig
    "metrics_endpoint": frozenset(),
    "workers": frozenset(),  # the process supervisor of `serve --workers N`
    "errors": frozenset(),
    "facade": frozenset(),
    "lifecycle": frozenset(),
    "fhir_json": frozenset(),
    "log_format": frozenset(),
    "metrics": frozenset(),
    "resources": frozenset(),
}

#: Imports that reach past a facade on purpose, with the reason.
PAST_THE_FACADE: dict[tuple[str, str], str] = {
    (
        "cds_service.cli",
        "cds_service.app.connection_limits",
    ): "uvicorn's protocol for `serve` only: importing the app must not import uvicorn",
}


@dataclass(frozen=True)
class Import:
    importer: str  # module name
    module: str  # the module (or package facade) imported
    names: tuple[str, ...]  # for ``from module import names``
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_module(name: str) -> bool:
    return name in MODULES


def _imports() -> Iterator[Import]:
    for importer, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("cds_service"):
                        yield Import(importer, alias.name, (), node.lineno)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cds_service"):
                assert node.level == 0, f"{importer}:{node.lineno}: relative import"
                names = tuple(a.name for a in node.names)
                submodules = [n for n in names if _is_module(f"{node.module}.{n}")]
                for name in submodules:  # `from cds_service.store import analytics`
                    yield Import(importer, f"{node.module}.{name}", (), node.lineno)
                if len(submodules) < len(names):
                    others = tuple(n for n in names if n not in submodules)
                    yield Import(importer, node.module or "", others, node.lineno)


IMPORTS = list(_imports())


def _part(module: str) -> str:
    """The stage (sub-package) or top-level module that ``module`` belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "cds_service"


def test_every_part_of_the_package_is_placed_in_the_graph() -> None:
    parts = {_part(m) for m in MODULES} - {"cds_service"}
    assert parts == set(MAY_IMPORT), "add the new part to MAY_IMPORT, with what it may import"


def test_imports_follow_the_graph() -> None:
    wrong = [
        f"{i.importer}:{i.line} imports {i.module}"
        for i in IMPORTS
        if (src := _part(i.importer)) != (dst := _part(i.module))
        and dst != "cds_service"  # the package root holds only __version__
        and dst not in MAY_IMPORT[src] | (frozenset() if src in SHARED else SHARED)
    ]
    assert wrong == []


def test_other_parts_import_a_stage_through_its_facade() -> None:
    wrong = [
        f"{i.importer}:{i.line} imports {i.module}: use cds_service.{_part(i.module)}"
        for i in IMPORTS
        if _part(i.module) in STAGES
        and _part(i.importer) != _part(i.module)
        and i.module != f"cds_service.{_part(i.module)}"
        and (i.importer, i.module) not in PAST_THE_FACADE
    ]
    assert wrong == []


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_facade_exports_what_other_parts_import_from_it(stage: str) -> None:
    facade = importlib.import_module(f"cds_service.{stage}")
    used = {
        name
        for i in IMPORTS
        if i.module == facade.__name__ and _part(i.importer) != stage
        for name in i.names
    }
    assert used - set(facade.__all__) == set(), "imported from the facade, not in its __all__"
    assert all(hasattr(facade, name) for name in facade.__all__)


def test_no_module_imports_itself_back() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in IMPORTS:
        graph[i.importer].add(i.module)
    cycles = _cycles(graph)
    assert cycles == [], "; ".join(", ".join(c) for c in cycles)


#: Third-party imports allowed in ``clinical``, with the reason.
CLINICAL_FOREIGN: dict[tuple[str, str], str] = {
    (module, name): "site ConceptMaps are validated with the FHIR model when loaded, at start"
    for module in ["cds_service.clinical.knowledge"]
    for name in ["fhir.resources.R4B.conceptmap", "pydantic"]
}


def test_the_clinical_engine_imports_only_the_standard_library() -> None:
    foreign = set()
    for module, path in MODULES.items():
        if _part(module) != "clinical":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            foreign |= {
                f"{module} imports {n}"
                for n in names
                if n.split(".")[0] not in sys.stdlib_module_names
                and not n.startswith(
                    ("cds_service.clinical", "cds_service.resources", "cds_service.fhir_json")
                )
                and (module, n) not in CLINICAL_FOREIGN
            }
    assert foreign == set()


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules of each import cycle: strongly connected components (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
