from pathlib import Path

import pytest

from cds_service.clinical.code_table import END, START, main, render_code_table, replace_section
from cds_service.clinical.knowledge import Knowledge, load_knowledge

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def knowledge() -> Knowledge:
    return load_knowledge()


def _section(text: str) -> str:
    return text.split(START, 1)[1].split(END, 1)[0]


def test_readme_section_matches_the_value_sets(knowledge: Knowledge) -> None:
    readme = README.read_text(encoding="utf-8")
    assert "## Accepted codes" in readme
    assert _section(readme) == "\n" + render_code_table(knowledge), (
        "README accepted-codes table is stale: run "
        "`python -m cds_service.clinical.code_table README.md`"
    )


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


def test_main_rewrites_a_readme(tmp_path: Path, knowledge: Knowledge) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# R\n\n## Accepted codes\n\n{START}\nstale\n{END}\n", encoding="utf-8")
    main([str(readme)])
    assert _section(readme.read_text(encoding="utf-8")) == "\n" + render_code_table(knowledge)
