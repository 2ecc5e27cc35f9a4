"""Radix: a CDS Hooks 2.0 service for lumbar radiculopathy decision support."""

import sys

__version__ = "0.1.0"

# httpx imports its command-line client, and with it rich, pygments and click (~40 ms of every
# start), whenever those are installed, as spaCy's typer installs them; Radix never runs it.
# Marked absent before httpx is first imported, httpx skips it (its ``main`` becomes a stub).
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
