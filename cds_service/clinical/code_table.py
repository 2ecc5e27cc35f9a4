"""The accepted-codes table of ``docs/codes.md``, rendered from the knowledge base.

Regenerate it with ``python -m cds_service.clinical.code_table docs/codes.md``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cds_service.clinical.knowledge import (
    CONCEPT_URL,
    ICD10_WHO,
    ICD10CM,
    VALUE_SETS_VERSION,
    CodeEntry,
    Knowledge,
)

START = "<!-- accepted-codes:start -->"
END = "<!-- accepted-codes:end -->"
#: The document that holds the table, relative to the repository root.
DEFAULT_PATH = "docs/codes.md"

_SYSTEM_LABELS = {
    "http://snomed.info/sct": "SNOMED CT",
    ICD10CM: "ICD-10-CM",
    ICD10_WHO: "WHO ICD-10",
    "http://loinc.org": "LOINC",
    "http://www.ama-assn.org/go/cpt": "CPT",
    "https://radix-cds.org/fhir/CodeSystem/neuro-exam": "radix",
}


def render_code_table(knowledge: Knowledge) -> str:
    """Markdown: a legend, then one row per (concept, code system); unverified codes carry (U)."""
    legend = [
        f"Codes of the input contract, by concept (value sets {VALUE_SETS_VERSION}). "
        f"Each concept is the FHIR ValueSet `{CONCEPT_URL}<concept>` in `valuesets/`.",
        "",
        *(f"- {label}: `{system}`" for system, label in _SYSTEM_LABELS.items()),
        f"- ICD codes are also accepted with the WHO system `{ICD10_WHO}`, in any case and "
        "with or without the dot; `X*` means every code starting with X.",
        "- (U): could not be verified against an official release file; accepted, but check it "
        "against your terminology release.",
        "",
        "| Concept | Id | System | Codes |",
        "|---|---|---|---|",
    ]
    rows = []
    for concept_id in knowledge.concept_ids:
        by_system: dict[str, list[str]] = {}
        for entry in knowledge.entries(concept_id):
            by_system.setdefault(entry.system, []).append(_code(entry))
        for system, codes in by_system.items():
            label = _SYSTEM_LABELS.get(system, f"`{system}`")
            rows.append(
                f"| {knowledge.title(concept_id)} | `{concept_id}` | {label} | {', '.join(codes)} |"
            )
    return "\n".join(legend + rows) + "\n"


def replace_section(document: str, table: str) -> str:
    """Put ``table`` between the accepted-codes markers of ``document``."""
    head, start, rest = document.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"the document lacks the markers {START} … {END}")
    return f"{head}{START}\n{table}{END}{tail}"


def _code(entry: CodeEntry) -> str:
    text = f"{entry.code}*" if entry.prefix else entry.code
    return f"{text} (U)" if entry.unverified else text


def main(argv: list[str] | None = None) -> None:
    """Rewrite the accepted-codes section of the file given as the only argument."""
    from cds_service.clinical.knowledge import load_knowledge

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else DEFAULT_PATH)
    path.write_text(
        replace_section(path.read_text(encoding="utf-8"), render_code_table(load_knowledge())),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
