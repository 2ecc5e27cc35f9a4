"""The notes pipeline, built after start-up, is exempted from the cyclic GC like start-up was."""

from __future__ import annotations

import gc

from cds_service.app.application import _freeze_once_notes_are_ready
from cds_service.clinical.knowledge import load_knowledge
from cds_service.notes.reader import NoteReader


async def test_the_pipeline_is_frozen_once_built_only_in_a_process_that_froze_start_up():
    reader = NoteReader(load_knowledge())
    gc.unfreeze()
    try:
        await _freeze_once_notes_are_ready(reader)  # nothing frozen: a test's choice, kept
        assert reader.ready and gc.get_freeze_count() == 0
        gc.freeze()  # as `cds-service serve` does once the app is up
        built_after = [[] for _ in range(10)]  # tracked objects, as the build left
        frozen = gc.get_freeze_count()
        await _freeze_once_notes_are_ready(reader)
        assert gc.get_freeze_count() >= frozen + len(built_after)
    finally:
        gc.unfreeze()
