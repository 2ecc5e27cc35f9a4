"""The notes stage of a hook call: find the patient's notes, get their text, read them.

Sits between ``data`` (which gathered the record) and ``clinical`` (which weighs findings): it
turns ``DocumentReference`` text into the same ``Finding`` records coded data give.

- The medspaCy pipeline is built once, in the stage's own worker thread, started with the
  service (:meth:`NoteReader.start`); nothing of spaCy is imported before that, and a call
  without notes never waits for it. A call with notes waits at most its deadline; if the
  pipeline is not ready by then its notes count as not read, and the card says so (unknown,
  never negative).
- Parsing runs in that one worker thread, off the event loop; a note's reading is cached by a
  hash of its text (and of the rules), in a bounded LRU, so a chart opened again costs no
  second parse.
- A ``Binary`` given by ``url`` is fetched from the request's FHIR server only (same origin and
  base path as ``fhirServer``, the same token and size limits as every FHIR read).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cds_service.clinical import Finding, Knowledge
from cds_service.data import FetchFailed, follow_url
from cds_service.notes.documents import Note, as_text, day, decode_text, select_notes
from cds_service.notes.findings import ORDER_BASE, note_findings
from cds_service.notes.mention import Mention
from cds_service.notes.pipeline import NotePipeline, build_pipeline
from cds_service.notes.rules import NoteRules, load_note_rules

logger = logging.getLogger("radix.notes")
_UNKNOWN = "what they hold is unknown, not negative"
# One worker thread and one pipeline per process (per rules version), shared by every reader:
# the pipeline is built once, and spaCy objects are only ever used from that one thread.
_LOCK = threading.Lock()
_WORKER: ThreadPoolExecutor | None = None
_BUILDS: dict[str, Future[NotePipeline]] = {}


def _worker() -> ThreadPoolExecutor:
    global _WORKER
    with _LOCK:
        if _WORKER is None:
            _WORKER = ThreadPoolExecutor(1, thread_name_prefix="radix-notes")
        return _WORKER


def _forget_worker() -> None:
    """In a forked child: the parent's worker thread did not come along, so its executor would
    take jobs and never run them (every note would time out as unread). Start a new worker on
    first use; a pipeline already built is kept, one still building is built again."""
    global _LOCK, _WORKER
    _LOCK, _WORKER = threading.Lock(), None  # the lock may have been held by that thread
    for digest in [d for d, built in _BUILDS.items() if not built.done()]:
        del _BUILDS[digest]


os.register_at_fork(after_in_child=_forget_worker)


def _pipeline(rules: NoteRules) -> Future[NotePipeline]:
    """The process's pipeline for these rules, its build started on first use."""
    with _LOCK:
        built = _BUILDS.get(rules.digest)
    if built is None:
        candidate = _worker().submit(build_pipeline, rules)
        with _LOCK:
            built = _BUILDS.setdefault(rules.digest, candidate)
        if built is not candidate:
            candidate.cancel()
    return built


@dataclass(frozen=True)
class NoteSettings:
    max_notes: int = 20
    max_chars: int = 50_000
    max_age_days: int = 90
    cache_size: int = 1_024
    #: Longest a call waits for Binary fetches, the pipeline and parsing together, in seconds.
    deadline_seconds: float = 4.0


@dataclass(frozen=True)
class NoteReading:
    """What the notes stage hands the clinical engine."""

    findings: tuple[Finding, ...] = ()
    remarks: tuple[str, ...] = ()
    read: tuple[str, ...] = ()  # references of the notes read


@dataclass(frozen=True)
class _Text:
    note: Note
    text: str | None  # None: could not be had
    problem: str | None = None


Fetch = Callable[[str], Any]  # url -> awaitable Binary resource (or None)


class NoteReader:
    def __init__(
        self,
        knowledge: Knowledge,
        settings: NoteSettings = NoteSettings(),
        rules: NoteRules | None = None,
    ) -> None:
        self._knowledge = knowledge
        self._settings = settings
        self._rules = rules or load_note_rules()
        self._built: Future[NotePipeline] | None = None
        self._cache: OrderedDict[str, tuple[Mention, ...]] = OrderedDict()
        self.parses = 0  # texts parsed (cache misses), for tests and the benchmark

    @property
    def settings(self) -> NoteSettings:
        return self._settings

    def start(self) -> None:
        """Build the pipeline in the background (idempotent); returns at once."""
        # Asked of the process each time, not kept from the first call: after a fork, a build
        # the parent had not finished is started again in the child.
        self._built = _pipeline(self._rules)

    def wait_ready(self) -> None:
        """Block until the pipeline is built (tools, tests); raises if it could not be."""
        self.start()
        assert self._built is not None
        self._built.result()

    async def until_ready(self) -> None:
        """Wait, on the loop, until the pipeline is built; raises if it could not be. Cancelling
        the wait leaves the build running."""
        self.start()
        assert self._built is not None
        await asyncio.shield(asyncio.wrap_future(self._built))

    @property
    def ready(self) -> bool:
        return self._built is not None and self._built.done() and not self._built.exception()

    async def read(
        self,
        resources: Sequence[Mapping[str, Any]],
        now: datetime,
        fhir_server: str | None = None,
        fetch: Callable[[str], Any] | None = None,
    ) -> NoteReading:
        """Read the patient's notes among ``resources``; ``fetch(url)`` gets a Binary."""
        selection = select_notes(resources, now, self._settings.max_age_days)
        remarks = list(selection.remarks)
        if not selection.notes:
            return NoteReading(remarks=tuple(remarks))
        self.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.deadline_seconds
        texts = await self._texts(selection.notes, resources, fhir_server, fetch, deadline)
        chosen, left_out = self._bounded(texts, remarks)
        if left_out:
            remarks.append(
                f"{left_out} older note(s) not read: more than {self._settings.max_notes} notes"
                f" or {self._settings.max_chars:,} characters in one call; {_UNKNOWN}"
            )
        if not chosen:
            return NoteReading(remarks=tuple(remarks))
        job = loop.run_in_executor(_worker(), self._parse_all, [t.text for t in chosen])
        try:
            parsed = await asyncio.wait_for(job, max(0.0, deadline - loop.time()))
        except TimeoutError:
            remarks.append(
                f"{len(chosen)} note(s) could not be read in time (the note reader is still"
                f" starting or busy); {_UNKNOWN}"
            )
            return NoteReading(remarks=tuple(remarks))
        except Exception:  # the pipeline failed to build: say so, never answer 500 for it
            logger.exception("the note reader failed")
            remarks.append(
                f"{len(chosen)} note(s) could not be read (note reader error); {_UNKNOWN}"
            )
            return NoteReading(remarks=tuple(remarks))
        return self._reading(chosen, parsed, remarks)

    def read_now(self, resources: Sequence[Mapping[str, Any]], now: datetime) -> NoteReading:
        """Synchronously, for tools and tests: Binaries only from ``resources`` (the record)."""

        async def run() -> NoteReading:
            return await self.read(resources, now)

        self.wait_ready()  # no deadline here: a tool waits for the pipeline
        return asyncio.run(run())

    # --- steps -------------------------------------------------------------------------------

    async def _texts(
        self,
        notes: Sequence[Note],
        resources: Sequence[Mapping[str, Any]],
        fhir_server: str | None,
        fetch: Callable[[str], Any] | None,
        deadline: float,
    ) -> list[_Text]:
        binaries = {
            f"Binary/{r.get('id')}": r
            for r in resources
            if isinstance(r, Mapping) and r.get("resourceType") == "Binary"
        }

        async def one(note: Note) -> _Text:
            if note.data is not None:
                text = decode_text(note.data, note.content_type)
                return _Text(note, text, None if text is not None else "its text is not base64")
            return await self._binary(note, binaries, fhir_server, fetch)

        loop = asyncio.get_running_loop()
        tasks = [asyncio.ensure_future(one(n)) for n in notes]
        done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
        for task in pending:
            task.cancel()
        return [
            t.result() if t in done and not t.exception() else _Text(n, None, "timed out")
            for n, t in zip(notes, tasks, strict=True)
        ]

    async def _binary(
        self,
        note: Note,
        binaries: Mapping[str, Mapping[str, Any]],
        fhir_server: str | None,
        fetch: Callable[[str], Any] | None,
    ) -> _Text:
        url = note.url or ""
        binary: Any = binaries.get(url.strip())
        if binary is None:
            if not fhir_server or fetch is None:
                return _Text(note, None, "its text is on the FHIR server and none was given")
            target = follow_url(url, fhir_server)
            if target is None:
                return _Text(note, None, "its text is not on the request's FHIR server")
            try:
                binary = await fetch(target)
            except FetchFailed as exc:
                return _Text(note, None, f"its text could not be fetched ({exc.reason})")
        if not isinstance(binary, Mapping) or binary.get("resourceType") != "Binary":
            return _Text(note, None, "its text (Binary) was not found")
        data = binary.get("data")
        if not isinstance(data, str):
            return _Text(note, None, "its Binary holds no data")
        try:
            raw = base64.b64decode(data, validate=False)
        except ValueError:
            return _Text(note, None, "its text is not base64")
        kind = str(binary.get("contentType") or note.content_type).split(";")[0].strip().lower()
        return _Text(note, as_text(raw, "text/html" if kind == "text/html" else note.content_type))

    def _bounded(self, texts: list[_Text], remarks: list[str]) -> tuple[list[_Text], int]:
        """Newest first, within the note and character limits; the rest is left out."""
        chosen: list[_Text] = []
        used = left_out = 0
        for item in texts:
            if item.text is None:
                remarks.append(
                    f"{item.note.reference} ({day(item.note.date)}): {item.problem}; {_UNKNOWN}"
                )
                continue
            size = len(item.text)
            if len(chosen) >= self._settings.max_notes or used + size > self._settings.max_chars:
                left_out += 1
                continue
            chosen.append(item)
            used += size
        return chosen, left_out

    def _reading(
        self, chosen: list[_Text], parsed: list[tuple[Mention, ...]], remarks: list[str]
    ) -> NoteReading:
        findings: list[Finding] = []
        for index, (item, mentions) in enumerate(zip(chosen, parsed, strict=True)):
            findings.extend(
                note_findings(
                    mentions,
                    item.note.reference,
                    item.note.date,
                    self._knowledge,
                    ORDER_BASE + index * 10_000,
                )
            )
        read = tuple(item.note.reference for item in chosen)
        remarks.insert(
            0,
            "Read: "
            + ", ".join(f"{item.note.reference} ({day(item.note.date)})" for item in chosen),
        )
        return NoteReading(tuple(findings), tuple(remarks), read)

    # --- in the worker thread ---------------------------------------------------------------

    def _parse_all(self, texts: list[str | None]) -> list[tuple[Mention, ...]]:
        assert self._built is not None
        pipeline = self._built.result()
        return [self._parse(pipeline, text or "") for text in texts]

    def _parse(self, pipeline: NotePipeline, text: str) -> tuple[Mention, ...]:
        key = hashlib.sha256(f"{self._rules.digest}\0{text}".encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        mentions = tuple(pipeline.read(text))
        self.parses += 1
        self._cache[key] = mentions
        while len(self._cache) > self._settings.cache_size:
            self._cache.popitem(last=False)
        return mentions
