"""The one validator for settings dataclasses: types from the annotations, limits from ``field(metadata=...)``.

:func:`build` makes an instance from a mapping (a file's contents, flags) and refuses unknown keys;
:func:`check` validates an instance that already exists (call it from ``__post_init__`` so that direct
construction is checked too). Both raise :class:`SchemaError`, a ``ValueError`` that names the key at
fault (dotted: ``models.a.concurrency``); each caller turns it into its own error type and adds
where the data came from.

Annotations understood: ``str``, ``int``, ``float`` (an int is accepted and made a float), ``bool``,
``Any`` (not checked), ``X | None``, unions of those, ``list[X]``, ``dict[str, X]`` and nested
dataclasses (built from a mapping; ``None`` means all defaults). Metadata keys:

- ``ge``, ``gt``, ``le``, ``lt``: bounds of a number;
- ``choices``: the allowed values of a string;
- ``nonempty``: a string, or a list and each string in it, may not be empty;
- ``internal``: set by code, never from data (an unknown key there);
- ``help``: the field's help text (not checked here).

With ``coerce=True`` the string forms that command-line flags and environment variables give are
accepted as well: ``"3"``, ``"1e-3"``, ``"true"``/``"off"``, ``"none"`` or ``""`` for an optional
field, ``"a,b"`` for a list. Cheap to import: the config is read by every command.
"""

from __future__ import annotations

import difflib
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any, Union

_NONE = type(None)
_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class SchemaError(ValueError):
    """A value that does not fit its field. ``loc``: the dotted key; ``problem``: what is wrong
    ("must be >= 1"); ``value``: the value given. The message shows the value only for a bound or a
    choice (a wrong-typed value may be a secret pasted in the wrong place)."""

    def __init__(self, loc: str, problem: str, value: Any = None, *, show_value: bool = False):
        self.loc, self.problem, self.value = loc, problem, value
        text = f"{loc or 'top level'}: {problem}"
        super().__init__(text + (f", got {value!r}" if show_value else ""))

    @property
    def key(self) -> str:
        """The top-level field at fault (``models`` for ``models.a.concurrency``)."""
        return self.loc.split(".", 1)[0].split("[", 1)[0]


class UnknownKeyError(SchemaError):
    """A key the dataclass does not have; ``allowed`` lists those it has, ``suggestion`` the closest."""

    def __init__(self, loc: str, key: str, allowed: list[str]):
        self.unknown, self.allowed = key, allowed
        close = difflib.get_close_matches(key, allowed, n=1)
        self.suggestion = close[0] if close else None
        super().__init__(loc, f"unknown key (allowed: {', '.join(allowed)})", key)


def build(cls: type, data: Any, *, loc: str = "", coerce: bool = False) -> Any:
    """``cls(**data)`` after checking and converting every value; unknown keys are refused."""
    if not isinstance(data, Mapping):
        raise SchemaError(loc, "must be a mapping", data)
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    for key in data:
        if key not in known:
            raise UnknownKeyError(_join(loc, key), str(key), list(known))
    hints = _hints(cls)
    return cls(**{name: convert(hints[name], data[name], _join(loc, name), known[name].metadata, coerce=coerce)
                  for name in known if name in data})


def check(obj: Any, *, loc: str = "") -> None:
    """Validate every field of an existing dataclass instance (nothing is converted or changed)."""
    hints = _hints(type(obj))
    for f in fields(obj):
        convert(hints[f.name], getattr(obj, f.name), _join(loc, f.name), f.metadata)


def convert(tp: Any, value: Any, loc: str, meta: Mapping[str, Any] | None = None, *, coerce: bool = False) -> Any:
    """``value`` checked against the annotation ``tp`` and the field metadata, converted where the
    module docstring says; a :class:`SchemaError` at ``loc`` when it does not fit."""
    meta = meta or {}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if _NONE in args and (value is None or (coerce and isinstance(value, str)
                                                and value.strip().lower() in ("", "none"))):
            return None
        members = [a for a in args if a is not _NONE]
        if len(members) == 1:
            return convert(members[0], value, loc, meta, coerce=coerce)
        return _union(members, value, loc, meta, coerce)
    if tp is Any:
        return value
    if isinstance(tp, type) and is_dataclass(tp):
        if isinstance(value, tp):
            check(value, loc=loc)
            return value
        return build(tp, value if value is not None else {}, loc=loc, coerce=coerce)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise SchemaError(loc, "must be a mapping", value)
        item = args[1] if args else Any
        return {str(k): convert(item, v, f"{loc}.{k}", coerce=coerce) for k, v in value.items()}
    if origin is list or tp is list:
        return _list(args[0] if args else Any, value, loc, meta, coerce)
    if tp is bool:
        return _bool(value, loc, coerce)
    if tp in (int, float):
        return _bounded(_number(tp, value, loc, coerce), loc, meta)
    if tp is str:
        return _string(value, loc, meta)
    return value


def describe(tp: Any, meta: Mapping[str, Any] | None = None) -> str:
    """What a value of ``tp`` must be, as a noun phrase ("an integer", "one of 'a', 'b'")."""
    choices = (meta or {}).get("choices")
    if tp is str and choices:
        return repr(choices[0]) if len(choices) == 1 else "one of " + ", ".join(map(repr, choices))
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false",
            list: "a list", dict: "a mapping"}.get(typing.get_origin(tp) or tp, getattr(tp, "__name__", str(tp)))


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _join(loc: str, key: Any) -> str:
    return f"{loc}.{key}" if loc else str(key)


def _union(members: list[Any], value: Any, loc: str, meta: Mapping[str, Any], coerce: bool) -> Any:
    if coerce and isinstance(value, str):  # flag text: a number member wins when the text parses as one
        for member in members:
            if member in (int, float):
                try:
                    value = member(value.strip())
                    break
                except ValueError:
                    pass
    choices = meta.get("choices")
    for member in members:
        if _fits(member, value) and not (member is str and choices and value not in choices):
            return convert(member, value, loc, meta, coerce=coerce)
    raise SchemaError(loc, "must be " + " or ".join(describe(m, meta) for m in members), value,
                      show_value=isinstance(value, (str, int, float)))


def _fits(tp: Any, value: Any) -> bool:
    base = typing.get_origin(tp) or tp
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(base, type) and is_dataclass(base):
        return isinstance(value, (base, Mapping))
    return isinstance(base, type) and isinstance(value, base)


def _list(item: Any, value: Any, loc: str, meta: Mapping[str, Any], coerce: bool) -> list:
    if coerce and isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise SchemaError(loc, "must be a list", value)
    if meta.get("nonempty") and not value:
        raise SchemaError(loc, "must not be empty", value)
    item_meta = {"nonempty": True} if meta.get("nonempty") else None
    return [convert(item, v, f"{loc}[{i}]", item_meta, coerce=coerce) for i, v in enumerate(value)]


def _bool(value: Any, loc: str, coerce: bool) -> bool:
    if coerce and isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise SchemaError(loc, "must be true or false", value, show_value=True)
    if not isinstance(value, bool):
        raise SchemaError(loc, "must be true or false", value)
    return value


def _number(tp: type, value: Any, loc: str, coerce: bool) -> Any:
    if coerce and isinstance(value, str):
        try:
            return tp(value.strip())
        except ValueError:
            raise SchemaError(loc, f"must be {describe(tp)}", value, show_value=True) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (tp is int and not isinstance(value, int)):
        raise SchemaError(loc, f"must be {describe(tp)}", value)
    return tp(value)


def _bounded(value: Any, loc: str, meta: Mapping[str, Any]) -> Any:
    for op, bound in meta.items():
        if op in _BOUNDS and not {"ge": value >= bound, "gt": value > bound,
                                  "le": value <= bound, "lt": value < bound}[op]:
            raise SchemaError(loc, f"must be {_BOUNDS[op]} {bound}", value, show_value=True)
    return value


def _string(value: Any, loc: str, meta: Mapping[str, Any]) -> str:
    if not isinstance(value, str):
        raise SchemaError(loc, "must be a string", value)
    if meta.get("nonempty") and not value:
        raise SchemaError(loc, "must not be empty", value)
    choices = meta.get("choices")
    if choices and value not in choices:
        raise SchemaError(loc, f"must be {describe(str, meta)}", value, show_value=True)
    return value
