"""The registry of assertion types.

Built-in families register exactly the way a plugin does: a module exposes a :class:`Family`
(``FAMILY``) and :func:`register` adds its types. Third-party packages can also declare an entry
point in the group ``promptops.assertions`` that names a Family, an AssertionType, or a module
with ``FAMILY``; those load together with the built-ins, on first use.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from types import ModuleType
from typing import Any

from .base import AssertionType, Family

BUILTIN_FAMILIES = ("text", "structured", "semantic", "code", "metrics", "words", "markup", "overlap", "fields", "tools")
ENTRY_POINT_GROUP = "promptops.assertions"
NOT_PREFIX = "not-"

_types: dict[str, AssertionType] = {}
_loaded = False
_lock = threading.RLock()
_generation = 0  # bumped on every change, so verdicts remembered about specs (grading) expire


def generation() -> int:
    """A number that changes whenever a type is registered or removed."""
    return _generation


def register(item: AssertionType | Family | ModuleType, *, replace: bool = False) -> None:
    """Add an assertion type, every type of a family, or a module's ``FAMILY``."""
    global _generation
    if isinstance(item, ModuleType):
        item = getattr(item, "FAMILY")
    items = item.types if isinstance(item, Family) else [item]
    with _lock:
        _generation += 1
        for atype in items:
            if not isinstance(atype, AssertionType):
                raise TypeError(f"not an AssertionType: {atype!r}")
            if atype.name.startswith(NOT_PREFIX) or not atype.name:
                raise ValueError(f"bad assertion type name {atype.name!r}")
            if atype.name in _types and not replace and _types[atype.name] is not atype:
                raise ValueError(f"assertion type {atype.name!r} is already registered")
            _types[atype.name] = atype


def unregister(name: str) -> None:
    """Remove a type (for tests and plugins that replace a built-in)."""
    global _generation
    with _lock:
        _types.pop(name, None)
        _generation += 1


def registry(*, plugins: bool = True) -> dict[str, AssertionType]:
    """Every registered type by name (plain forms only), loading the built-ins on first use and
    the plugins when asked (scanning entry points costs ~0.1 s, so a lookup that a built-in
    answers never pays it)."""
    global _loaded
    if not _loaded:
        with _lock:
            if not _loaded:
                for family in BUILTIN_FAMILIES:
                    register(importlib.import_module(f"{__package__}.{family}"), replace=True)
                _loaded = True
    if plugins:
        _load_plugins()
    return _types


_plugins_loaded = False


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj: Any = entry.load()
            register(obj)
        except Exception as exc:  # a broken plugin must not break every eval
            warnings.warn(f"assertion plugin {entry.name!r} failed to load: {exc}", stacklevel=2)


def lookup(type_name: str) -> tuple[AssertionType | None, bool]:
    """(the type, whether negated) for ``name`` or ``not-name``; (None, negated) when unknown."""
    negate = type_name.startswith(NOT_PREFIX)
    base = type_name[len(NOT_PREFIX):] if negate else type_name
    found = registry(plugins=False).get(base)
    return (found or registry().get(base)), negate


def assertion_types() -> set[str]:
    """Every accepted ``type``: each registered name and its ``not-`` form."""
    names = set(registry())
    return names | {NOT_PREFIX + name for name in names}
