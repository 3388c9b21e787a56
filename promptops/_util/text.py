"""Text that cannot be stored: lone UTF-16 surrogates.

JavaScript cuts strings by UTF-16 code units, so a string cut inside an emoji arrives as JSON
``"\\ud800"``: Python decodes it into a ``str`` that no UTF-8 encoder (SQLite, PostgreSQL, a file,
an HTTP response) accepts. Such text is refused where it enters, with where it was found."""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_at(value: Any, path: str = "") -> str | None:
    """The path (``vars.text``, ``messages[1].content``) of the first string holding a lone
    surrogate in ``value`` (strings, and strings inside lists and mappings, keys included), or None."""
    if isinstance(value, str):
        return path or "(value)" if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SURROGATE.search(key):
                return where
            if found := lone_surrogate_at(item, where):
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if found := lone_surrogate_at(item, f"{path}[{i}]"):
                return found
    return None
