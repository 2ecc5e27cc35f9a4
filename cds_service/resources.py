"""Where the declarative data (``hooks/``, ``valuesets/``, ``examples/``) lives, in a checkout or a
wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """The data folder ``name`` (``hooks``, ``valuesets``, ``examples``) shipped with Radix."""
    # A checkout (and an editable install) keeps the folders beside the package; a wheel
    # carries them inside it, under _data/.
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"data folder {name!r} not found beside or inside {_PACKAGE}")
