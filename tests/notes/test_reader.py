"""The notes stage end to end: bounds, cache, Binaries, and a pipeline not ready in time."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from cds_service.notes.reader import NoteReader, NoteSettings
from cds_service.notes.rules import load_note_rules, rules_dir
from tests.notes.conftest import NOW
from tests.notes.test_documents import note


async def test_a_reading_is_cached_by_text(knowledge):
    reader = NoteReader(knowledge)
    reader.wait_ready()
    first = await reader.read([note("a", text="EHL 4/5 L. SLR +ve L.")], NOW)
    second = await reader.read([note("b", text="EHL 4/5 L. SLR +ve L.")], NOW)
    assert reader.parses == 1
    assert [f.grade for f in first.findings] == [f.grade for f in second.findings]
    assert {f.reference for f in second.findings} == {"DocumentReference/b"}


def test_a_forked_process_reads_notes_with_its_own_worker(knowledge):
    """A process forked after the notes worker started (a pre-forking server, the mutation
    testing harness) must not hand its parses to a thread it does not have."""
    reader = NoteReader(knowledge, NoteSettings(deadline_seconds=30))
    reader.wait_ready()
    asyncio.run(reader.read([note("a", text="EHL 4/5 L.")], NOW))
    child = os.fork()
    if child == 0:  # a text not in the cache, so the child must parse it itself
        reading = asyncio.run(reader.read([note("b", text="EHL 3/5 L.")], NOW))
        os._exit(0 if [f.grade for f in reading.findings] == [3] else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


async def test_the_cache_is_bounded(knowledge):
    reader = NoteReader(knowledge, NoteSettings(cache_size=2))
    reader.wait_ready()
    for text in ("EHL 4/5 L.", "EHL 3/5 L.", "EHL 2/5 L.", "EHL 4/5 L."):
        await reader.read([note("a", text=text)], NOW)
    assert reader.parses == 4  # the first text had been dropped when it came back


async def test_at_most_the_configured_notes_and_characters_are_read(knowledge):
    reader = NoteReader(knowledge, NoteSettings(max_notes=3, max_chars=10_000))
    reader.wait_ready()
    notes = [note(f"n{i}", days=i + 1, text=f"EHL {i % 5}/5 L.") for i in range(5)]
    reading = await reader.read(notes, NOW)
    assert reading.read == ("DocumentReference/n0", "DocumentReference/n1", "DocumentReference/n2")
    assert any("2 older note(s) not read" in r for r in reading.remarks)
    small = NoteReader(knowledge, NoteSettings(max_chars=15))
    reading = await small.read(
        [note("a", text="EHL 4/5 L."), note("b", days=2, text="x" * 20)], NOW
    )
    assert reading.read == ("DocumentReference/a",)


async def test_a_binary_elsewhere_than_the_fhir_server_is_never_fetched(knowledge):
    reader = NoteReader(knowledge)
    reader.wait_ready()
    by_url = note("u")
    by_url["content"][0]["attachment"] = {
        "contentType": "text/plain",
        "url": "https://elsewhere.example/Binary/b1",
    }

    async def fetch(url: str):
        raise AssertionError(f"fetched {url}")

    reading = await reader.read([by_url], NOW, "https://ehr.example/fhir", fetch)
    assert reading.findings == ()
    assert any("not on the request's FHIR server" in r for r in reading.remarks)


async def test_a_call_without_notes_never_waits(knowledge):
    reader = NoteReader(knowledge, NoteSettings(deadline_seconds=0.0))
    assert await reader.read([{"resourceType": "Condition", "id": "c"}], NOW) == (
        await reader.read([], NOW)
    )


async def test_notes_not_read_in_time_are_unknown_and_said_so(knowledge, tmp_path: Path):
    # Rules of another version need a pipeline of their own, which is not built yet.
    folder = tmp_path / "notes"
    shutil.copytree(rules_dir(), folder)
    values = json.loads((folder / "values.json").read_text())
    values["description"] += " (a copy for a test)"
    (folder / "values.json").write_text(json.dumps(values))
    rules = load_note_rules(folder)
    assert rules.digest != load_note_rules().digest
    reader = NoteReader(knowledge, replace(NoteSettings(), deadline_seconds=0.05), rules)
    reading = await reader.read([note("a", text="Urinary retention since yesterday.")], NOW)
    assert reading.findings == ()
    assert any(
        "could not be read in time" in r and "unknown, not negative" in r for r in reading.remarks
    )


def test_the_rules_name_only_concepts_the_engine_knows(knowledge):
    known = set(knowledge.concept_ids) | {"bilateral-leg-symptoms"}
    for rule in load_note_rules().concepts:
        for concept in (
            *rule.present_concepts,
            *rule.absent_concepts,
            *([rule.history_concept] if rule.history_concept else []),
        ):
            assert concept in known, concept


@pytest.mark.parametrize(
    "broken",
    [
        {"concepts": [{"kind": "muscle", "concept": "x", "phrases": ["a"]}]},
        {"concepts": [{"kind": "symptom", "concept": "x", "phrases": []}]},
    ],
)
def test_broken_rules_fail_at_load_naming_the_entry(tmp_path: Path, broken):
    from cds_service.notes.rules import NoteRulesError

    shutil.copytree(rules_dir(), tmp_path / "notes")
    (tmp_path / "notes" / "concepts.json").write_text(json.dumps(broken))
    with pytest.raises(NoteRulesError, match=r"concepts\[0\]"):
        load_note_rules(tmp_path / "notes")
