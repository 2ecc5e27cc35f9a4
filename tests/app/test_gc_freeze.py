"""The notes pipeline, built after start-up, is exempted from the cyclic GC like start-up was."""

from __future__ import annotations

import gc
import weakref

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


class _Node:
    """A reference cycle's member, weakly referenceable to see whether it was freed."""

    def __init__(self) -> None:
        self.me = self


async def test_the_builds_garbage_is_collected_not_frozen():
    reader = NoteReader(load_knowledge())
    await reader.until_ready()
    gc.freeze()  # as `cds-service serve` does once the app is up
    try:
        garbage = _Node()
        gone = weakref.ref(garbage)
        del garbage  # unreachable, held only by its own cycle
        await _freeze_once_notes_are_ready(reader)
        assert gone() is None
    finally:
        gc.unfreeze()
