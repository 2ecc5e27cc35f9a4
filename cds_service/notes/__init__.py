"""The notes stage: clinical notes (DocumentReference text) read into clinical findings.

Between ``data`` and ``clinical``: it may use both, and neither imports it. spaCy and medspaCy
are imported only when the pipeline is built (``reader.NoteReader.start``).
"""

from cds_service.notes.reader import NoteReader, NoteReading, NoteSettings

__all__ = ["NoteReader", "NoteReading", "NoteSettings"]
