from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cds_service.clinical.knowledge import Knowledge, load_knowledge
from cds_service.notes.pipeline import NotePipeline
from cds_service.notes.reader import NoteReader
from cds_service.notes.rules import load_note_rules

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def knowledge() -> Knowledge:
    return load_knowledge()


@pytest.fixture(scope="session")
def reader(knowledge: Knowledge) -> NoteReader:
    reader = NoteReader(knowledge)
    reader.wait_ready()
    return reader


@pytest.fixture(scope="session")
def pipeline(reader: NoteReader) -> NotePipeline:
    from cds_service.notes import reader as module

    return module._pipeline(load_note_rules()).result()
