from pathlib import Path

import pytest

from cds_service.clinical.code_table import (
    DEFAULT_PATH,
    END,
    START,
    main,
    render_code_table,
    replace_section,
)
from cds_service.clinical.knowledge import Knowledge, load_knowledge

ROOT = Path(__file__).resolve().parents[2]
CODES = ROOT / DEFAULT_PATH


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge()


def _section(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0]


def test_codes_document_matches_the_value_sets(knowledge: Knowledge) -> None:
    document = CODES.read_text(encoding="utf-8")
    assert document.startswith("# Accepted codes\n")
    assert _section(document) == "\n" + render_code_table(knowledge), (
        "docs/codes.md accepted-codes table is stale: run "
        "`python -m cds_service.clinical.code_table docs/codes.md`"
    )


def test_the_readme_links_to_the_table_instead_of_holding_it() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert START not in readme and END not in readme
    assert "(docs/codes.md)" in readme


def test_table_lists_every_code_and_family_once(knowledge: Knowledge) -> None:
    table = render_code_table(knowledge)
    for concept_id in knowledge.concept_ids:
        rows = [line for line in table.splitlines() if f"| `{concept_id}` |" in line]
        assert rows, concept_id
        listed = [code for row in rows for code in row.split("|")[4].split(",")]
        assert len(listed) == len(knowledge.entries(concept_id))
    assert "| Malignancy | `malignancy` | ICD-10-CM | C* |" in table
    assert "Z85.*" in table and "M46.2*" in table and "I70.21*" in table


def test_unverified_codes_are_marked(knowledge: Knowledge) -> None:
    table = render_code_table(knowledge)
    assert table.count("(U)") == len(knowledge.unverified) + 1  # + the legend line
    assert "192970008 (U)" in table
    assert "12454008 (U)" not in table


def test_replace_section_keeps_the_rest_of_the_file() -> None:
    text = f"# Title\n\nintro\n{START}\nold\n{END}\n\n## After\n"
    assert replace_section(text, "new\n") == f"# Title\n\nintro\n{START}\nnew\n{END}\n\n## After\n"
    with pytest.raises(ValueError, match="markers"):
        replace_section("# no markers\n", "new\n")


def test_main_rewrites_the_named_document(tmp_path: Path, knowledge: Knowledge) -> None:
    document = tmp_path / "codes.md"
    text = f"# Accepted codes\n\nintro\n\n{START}\nstale\n{END}\n\ntail\n"
    document.write_text(text, encoding="utf-8")
    main([str(document)])
    rewritten = document.read_text(encoding="utf-8")
    assert _section(rewritten) == "\n" + render_code_table(knowledge)
    assert rewritten.startswith("# Accepted codes\n\nintro\n") and rewritten.endswith("\ntail\n")


def test_main_defaults_to_docs_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, knowledge: Knowledge
) -> None:
    target = tmp_path / DEFAULT_PATH
    target.parent.mkdir()
    target.write_text(f"{START}\nstale\n{END}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    main([])
    assert _section(target.read_text(encoding="utf-8")) == "\n" + render_code_table(knowledge)
