"""The fingerprint of the rule code, recorded beside the rules release it belongs to.

The ``knowledgeVersion`` is ``RULES_VERSION`` plus a hash of the data (value sets, site-local
ConceptMaps, the note-reading rules, the thresholds); it never hashes source files, so a reformat
or a comment changes nothing an auditor sees. What keeps a code change from slipping through
under an old version is this fingerprint: a hash of what the rule modules *do*, their syntax
trees without docstrings (comments and layout never reach a syntax tree). It is recorded in
``rules_version.py`` together with the version it was taken at, and
``tests/test_rules_version.py`` fails when the code no longer matches it.

After a change to the rules (``clinical/``, ``cards/``, ``notes/`` and ``fhir_json.py``), choose
the next release and record it with its fingerprint, in one command::

    python -m cds_service.clinical.rules_fingerprint 2026.12.2

Without an argument it says whether the recorded fingerprint is current.
"""

from __future__ import annotations

import ast
import hashlib
import re
import sys
from pathlib import Path
from typing import Any

#: The package whose rule modules are fingerprinted: ``cds_service/``.
PACKAGE = Path(__file__).resolve().parent.parent
#: The sub-packages whose code decides an answer or what a card says.
RULE_PACKAGES = ("clinical", "cards", "notes")
#: Modules outside them that they read the record with.
RULE_MODULES = ("fhir_json.py",)
#: Files of those packages that decide nothing: the record itself, this tool, and the generator
#: of docs/codes.md.
NOT_RULES = frozenset(
    {"clinical/rules_version.py", "clinical/rules_fingerprint.py", "clinical/code_table.py"}
)
#: Where the version and its fingerprint are recorded, relative to ``PACKAGE``.
RECORD = "clinical/rules_version.py"
COMMAND = "python -m cds_service.clinical.rules_fingerprint"

_RULE_PATHS = (*(f"{name}/" for name in RULE_PACKAGES), *RULE_MODULES)
_VERSION = re.compile(r"^(\d{4})\.(\d{2})\.(\d+)$")
_RECORD_TEMPLATE = '''\
"""The release of Radix's rules: the first part of every ``knowledgeVersion``.

Written, with the fingerprint of the rule code it was set for, by
``{command} VERSION``; do not edit by hand.
"""

RULES_VERSION = "{version}"
RULES_FINGERPRINT = "{fingerprint}"
'''


def rule_files(package: Path = PACKAGE) -> list[Path]:
    """Every file of the rule packages that can change an answer, in a stable order.

    Python modules and any data file beside them (a card template, say); never caches.
    """
    found = [package / name for name in RULE_MODULES]
    for name in RULE_PACKAGES:
        for path in sorted((package / name).rglob("*")):
            relative = path.relative_to(package).as_posix()
            if (
                path.is_file()
                and relative not in NOT_RULES
                and "__pycache__" not in path.parts
                and not path.name.startswith(".")
                and path.suffix != ".pyc"
            ):
                found.append(path)
    return found


def normalised(source: str) -> str:
    """What a module does, as text: its syntax tree without docstrings, positions or layout.

    A comment, a docstring or a reformat (``ruff format``) leaves it unchanged; a changed
    threshold, phrase, table entry or branch changes it.
    """
    return repr(_plain(_Docstrings().visit(ast.parse(source))))


def fingerprint(package: Path = PACKAGE) -> str:
    """sha256 over the normalised rule modules (and the bytes of any other rule file)."""
    digest = hashlib.sha256()
    for path in rule_files(package):
        if path.suffix == ".py":
            content = normalised(path.read_text(encoding="utf-8")).encode()
        else:
            content = path.read_bytes()
        relative = path.relative_to(package).as_posix()
        digest.update(f"{relative}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def recorded(package: Path = PACKAGE) -> tuple[str, str]:
    """The ``(RULES_VERSION, RULES_FINGERPRINT)`` written in the record of ``package``."""
    tree = ast.parse((package / RECORD).read_text(encoding="utf-8"))
    values = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return str(values["RULES_VERSION"]), str(values["RULES_FINGERPRINT"])


def stale(package: Path = PACKAGE) -> str | None:
    """None when the record matches the code; else what the developer must do, and how."""
    version, expected = recorded(package)
    if fingerprint(package) == expected:
        return None
    return (
        f"The rule code ({', '.join(f'cds_service/{p}' for p in _RULE_PATHS)}) changed since "
        f"rules release {version} was recorded: the knowledgeVersion every card and audit row "
        "names would no longer say which code produced the answer. Bump the release and record "
        f"its fingerprint in one command:\n\n    {COMMAND} {next_version(version)}\n\n"
        "(comments, docstrings and formatting never count; any other edit does)."
    )


def next_version(version: str) -> str:
    """The release after ``version``: ``2026.12.1`` → ``2026.12.2``."""
    _parts(version)
    release, number = version.rsplit(".", 1)
    return f"{release}.{int(number) + 1}"


def record(version: str, package: Path = PACKAGE) -> str:
    """Write ``version`` and the current fingerprint to the record; returns the fingerprint.

    The version must come after the recorded one: a changed rule under an old release would
    make two different answers carry the same ``knowledgeVersion``.
    """
    current, _ = recorded(package)
    if _parts(version) <= _parts(current):
        raise ValueError(f"{version} does not come after the recorded release {current}")
    value = fingerprint(package)
    text = _RECORD_TEMPLATE.format(command=COMMAND, version=version, fingerprint=value)
    (package / RECORD).write_text(text, encoding="utf-8")
    return value


def main(argv: list[str] | None = None, package: Path = PACKAGE) -> int:
    """``VERSION``: record it with the fingerprint; no argument: say whether the record holds."""
    args = sys.argv[1:] if argv is None else argv
    if args:
        try:
            value = record(args[0], package)
        except ValueError as exc:
            print(f"not recorded: {exc}", file=sys.stderr)
            return 1
        print(f"rules release {args[0]} recorded, fingerprint {value}")
        return 0
    problem = stale(package)
    print(problem or f"rules release {recorded(package)[0]}: the fingerprint is current")
    return 1 if problem else 0


class _Docstrings(ast.NodeTransformer):
    """Drops every statement that is a bare string: docstrings, attribute docstrings."""

    def visit_Expr(self, node: ast.Expr) -> ast.AST | None:
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return None
        return node


def _plain(node: Any) -> Any:
    # Our own dump rather than ast.dump: fields that are None or empty are left out, so the same
    # code gives the same text on Python versions that add fields (3.12's type_params) or print
    # defaults differently (3.13).
    if isinstance(node, ast.AST):
        fields = {
            name: _plain(value)
            for name, value in ast.iter_fields(node)
            if value is not None and value != []
        }
        return (type(node).__name__, fields)
    if isinstance(node, list):
        return [_plain(item) for item in node]
    return node


def _parts(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(f"{version!r} is not a release like 2026.12.1 (year, month, number)")
    year, month, number = (int(part) for part in match.groups())
    return year, month, number


if __name__ == "__main__":
    sys.exit(main())
