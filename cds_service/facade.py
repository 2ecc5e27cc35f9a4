"""Lazy package facades: a name is imported from its module the first time it is used.

A facade (``auth``, ``store``) that imported its modules eagerly would load the JWT stack or
Alembic on every start, used or not (``import cds_service.auth`` must stay cheap).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that finds each name in its module in ``homes``."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(homes[name]), name)

    return __getattr__
