"""Text that cannot be stored: lone UTF-16 surrogates.

JavaScript cuts strings by UTF-16 code units, so a string cut inside an emoji arrives as JSON
``"\\ud800"``: Python decodes it into a ``str`` that no UTF-8 encoder (SQLite, PostgreSQL, a file,
an HTTP response) accepts. Such text is refused where it enters, with where it was found."""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate_at(value: Any, path: str = "") -> str | None:
    """The path (``vars.text``, ``messages[1].content``) of the first string holding a lone
    surrogate in ``value`` (strings, and strings inside lists and mappings, keys included), or None."""
    if isinstance(value, (dict, list)):  # one C-speed scan of the whole value; the walk only names the path
        try:
            text = json.dumps(value, ensure_ascii=False, default=repr)
        except (TypeError, ValueError, RecursionError):
            text = None
        if text is not None and not _SURROGATE.search(text):
            return None
    return _walk(value, path)


def _walk(value: Any, path: str) -> str | None:
    if isinstance(value, str):
        return path or "(value)" if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _SURROGATE.search(key):
                return where
            if found := _walk(item, where):
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if found := _walk(item, f"{path}[{i}]"):
                return found
    return None


# C0 and C1 control characters but tab and newline, DEL, and the bidirectional overrides that
# reorder what a terminal shows (a "Trojan Source" description)
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` safe to print on a terminal: escape sequences and other control characters
    (``\\x1b[2J``, a carriage return that overwrites the line) shown as ``\\x1b``, never run."""
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1] if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                         text)
