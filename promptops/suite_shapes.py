"""Suites as promptfoo writes them: ``defaults`` (``defaultTest``), variable arrays, CSV's special
columns, ``file://`` values, and YAML scalars as written.

- A YAML suite may be a mapping: ``cases:`` (or promptfoo's ``tests:``) with the cases, a list or
  ``file://other.yaml``; ``defaults:`` (or ``defaultTest:``) with ``vars``, ``assert``, ``threshold``
  and ``options`` that every case gets, as promptfoo merges them: the defaults' vars under the
  case's, their assertions before the case's, their options under the case's, their threshold
  when the case has none; and ``expand: true``.
- ``expand: true`` turns a case whose variables hold lists into one case per combination
  (promptfoo does this always; a native suite opts in, because a list is also a value).
- CSV: ``__expected`` (the expected answer, or an assertion ``type:value`` / ``type(0.8):value``),
  ``__expected1`` … ``__expectedN`` (one assertion each; plain text is ``equals``), ``__metric``
  (names the row's assertions' metric), ``__threshold`` (the case threshold), ``__metadata:KEY``
  (``__metadata:KEY[]`` splits on commas), ``__id``, ``__tags``, ``__description``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from typing import Any

import yaml

from .assertions import assertion_types, lookup
from .errors import SuiteError
from .fileref import Files, is_ref

SUITE_KEYS = {"cases", "tests", "defaults", "defaultTest", "expand", "description"}
DEFAULT_KEYS = {"vars", "assert", "threshold", "options"}
MAX_COMBINATIONS = 10_000
CSV_SPECIAL = ("__expected", "__expectedN", "__id", "__tags", "__description", "__metric", "__threshold",
               "__metadata:KEY")
_EXPECTED_COL = re.compile(r"__expected(\d*)")
_CELL_ASSERT = re.compile(r"^(not-)?([a-z][a-z0-9-]*)(?:\((\d+(?:\.\d+)?)\))?:(.*)$", re.DOTALL)
_CELL_ALIASES = {"grade": "llm-rubric"}
_STR_TAG = "tag:yaml.org,2002:str"


def _pick(data: dict[str, Any], a: str, b: str, where: str) -> Any:
    if a in data and b in data:
        raise SuiteError(f"both '{a}' and '{b}' (they are the same key)", where=where)
    return data.get(a, data.get(b))


def suite_mapping(data: dict[str, Any], node: yaml.Node | None, name: str, files: Files
                  ) -> tuple[list[Any], list[int], dict[str, Any], bool, list[yaml.Node | None]]:
    """(case rows, their lines, defaults, expand, case nodes) of a YAML suite written as a mapping."""
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise SuiteError(f"unknown suite key(s): {', '.join(map(str, unknown))}", where=f"{name}:1",
                         hint=f"a suite mapping takes {', '.join(sorted(SUITE_KEYS))}")
    keyed = {k.value: v for k, v in node.value} if isinstance(node, yaml.MappingNode) else {}
    defaults = _pick(data, "defaults", "defaultTest", f"{name}:1") or {}
    dnode = keyed.get("defaults", keyed.get("defaultTest"))
    dwhere = f"{name}:{dnode.start_mark.line + 1}" if dnode is not None else f"{name}:1"
    if not isinstance(defaults, dict) or set(defaults) - DEFAULT_KEYS:
        raise SuiteError(f"'defaults' is a mapping of {', '.join(sorted(DEFAULT_KEYS))}", where=dwhere,
                         hint="e.g. defaults: {vars: {language: French}, assert: [{type: icontains, value: bonjour}]}")
    defaults = {**defaults, "_text": text_of_vars(dnode), "_where": dwhere}
    expand = data.get("expand", False)
    if not isinstance(expand, bool):
        raise SuiteError("'expand' is true or false", where=f"{name}:1")
    rows = _pick(data, "cases", "tests", f"{name}:1")
    cnode = keyed.get("cases", keyed.get("tests"))
    if is_ref(rows):
        raise SuiteError("cases: file://… is read by the suite loader", where=f"{name}:1")  # see load_cases_ref
    if rows is None:
        rows = []
    if not isinstance(rows, list):
        raise SuiteError("'cases' must be a list of cases (or file://PATH)", where=f"{name}:1")
    nodes = list(cnode.value) if isinstance(cnode, yaml.SequenceNode) else []
    lines = [n.start_mark.line + 1 for n in nodes]
    return rows, lines, defaults, expand, nodes + [None] * (len(rows) - len(nodes))


def text_of_vars(node: yaml.Node | None) -> dict[str, str]:
    """The source text of ``vars`` scalars that YAML read as something else (``yes``, ``007``)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    vnode = next((v for k, v in node.value if getattr(k, "value", None) == "vars"), None)
    if not isinstance(vnode, yaml.MappingNode):
        return {}
    return {str(k.value): v.value for k, v in vnode.value
            if isinstance(v, yaml.ScalarNode) and v.tag != _STR_TAG and v.style is None
            and v.tag != "tag:yaml.org,2002:null"}


def scalar_text(node: yaml.Node | None, key: str) -> str | None:
    """The source text of mapping ``node``'s scalar ``key`` when YAML read it as a non-string."""
    if not isinstance(node, yaml.MappingNode):
        return None
    v = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
    if isinstance(v, yaml.ScalarNode) and v.tag not in (_STR_TAG, "tag:yaml.org,2002:null"):
        return v.value
    return None


def merge_defaults(row: Any, defaults: dict[str, Any], where: str) -> Any:
    """A case row with the suite's defaults merged in, as promptfoo merges ``defaultTest``."""
    if not defaults or not isinstance(row, dict):
        return row
    out = dict(row)
    dvars = defaults.get("vars") or {}
    if not isinstance(dvars, dict):
        raise SuiteError("defaults 'vars' must be a mapping", where=defaults.get("_where", where))
    if dvars:
        own = row.get("vars") or {}
        out["vars"] = {**dvars, **own} if isinstance(own, dict) else own
    dasserts = defaults.get("assert") or []
    if isinstance(dasserts, dict):
        dasserts = [dasserts]
    if dasserts:
        own = row.get("assert") or []
        own = [own] if isinstance(own, dict) else own
        out["assert"] = [*dasserts, *own] if isinstance(own, list) else own
    if defaults.get("options"):
        own = row.get("options") or {}
        out["options"] = {**defaults["options"], **own} if isinstance(own, dict) else own
    if defaults.get("threshold") is not None and row.get("threshold") is None:
        out["threshold"] = defaults["threshold"]
    return out


def expand_vars(variables: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """One mapping per combination of the list-valued variables (promptfoo's cartesian product)."""
    keys = [k for k, v in variables.items() if isinstance(v, list)]
    if not keys:
        return [variables]
    if any(not variables[k] for k in keys):
        raise SuiteError(f"variable '{next(k for k in keys if not variables[k])}' is an empty list: "
                         "it expands into no case", where=where)
    count = math.prod(len(variables[k]) for k in keys)
    if count > MAX_COMBINATIONS:
        raise SuiteError(f"the variable lists expand into {count:,} cases (more than {MAX_COMBINATIONS:,})",
                         where=where, hint="split the case, or turn 'expand' off")
    return [{**variables, **dict(zip(keys, combo))} for combo in itertools.product(*(variables[k] for k in keys))]


def resolve_refs(row: dict[str, Any], name: str, where: str, files: Files) -> dict[str, Any]:
    """A case row with its ``file://`` variables and assertion values read."""
    variables = row.get("vars")
    if isinstance(variables, dict) and any(is_ref(v) for v in variables.values()):
        row = {**row, "vars": {k: files.value(v, name, where) if is_ref(v) else v for k, v in variables.items()}}
    asserts = row.get("assert")
    if isinstance(asserts, list) and any(isinstance(s, dict) and _has_ref(s.get("value")) for s in asserts):
        row = {**row, "assert": [_spec_refs(s, name, where, files) for s in asserts]}
    return row


def _has_ref(value: Any) -> bool:
    return is_ref(value) or (isinstance(value, list) and any(is_ref(v) for v in value))


def _spec_refs(spec: Any, name: str, where: str, files: Files) -> Any:
    if not isinstance(spec, dict) or not _has_ref(spec.get("value")):
        return spec
    atype, _ = lookup(spec.get("type", "")) if isinstance(spec.get("type"), str) else (None, False)
    if atype is not None and atype.value == "path":
        return spec  # a python assertion names its file itself
    value = spec["value"]
    value = [files.value(v, name, where) if is_ref(v) else v for v in value] if isinstance(value, list) \
        else files.value(value, name, where)
    return {**spec, "value": value}


# -- CSV ----------------------------------------------------------------------------------------

def csv_special(header: list[str], name: str) -> None:
    unknown = [h for h in header if h.startswith("__") and not (
        _EXPECTED_COL.fullmatch(h) or h in ("__id", "__tags", "__description", "__metric", "__threshold")
        or (h.startswith("__metadata:") and len(h) > len("__metadata:")))]
    if unknown:
        raise SuiteError(f"unknown special column(s): {', '.join(unknown)}", where=f"{name}:1",
                         hint=f"special columns are {', '.join(CSV_SPECIAL)}")


def csv_case(cells: dict[str, str], where: str) -> dict[str, Any]:
    """A case row from one CSV row (the header checked by :func:`csv_special`)."""
    case: dict[str, Any] = {"vars": {k: v for k, v in cells.items() if not k.startswith("__")}}
    if cells.get("__id"):
        case["id"] = cells["__id"]
    if cells.get("__tags"):
        case["tags"] = [t.strip() for t in cells["__tags"].split(",") if t.strip()]
    if cells.get("__description"):
        case["description"] = cells["__description"]
    metadata: dict[str, Any] = {}
    for key, cell in cells.items():
        if key.startswith("__metadata:") and cell.strip():
            mkey = key[len("__metadata:"):]
            if mkey.endswith("[]"):
                metadata[mkey[:-2]] = [p.strip() for p in cell.split(",") if p.strip()]
            else:
                metadata[mkey] = cell
    if metadata:
        case["metadata"] = metadata
    if cells.get("__threshold", "").strip():
        try:
            case["threshold"] = float(cells["__threshold"])
        except ValueError:
            raise SuiteError(f"__threshold '{cells['__threshold']}' is not a number", where=where) from None
    asserts: list[dict[str, Any]] = []
    plain: str | None = None
    columns = sorted((k for k in cells if _EXPECTED_COL.fullmatch(k)), key=lambda k: int(k[10:] or 0))
    for key in columns:
        text = cells[key]
        if not text.strip():
            continue
        spec = cell_assertion(text)
        if spec is not None:
            asserts.append(spec)
        elif key == "__expected":
            plain = text
        else:
            asserts.append({"type": "equals", "value": text})
    metric = cells.get("__metric", "").strip()
    if plain is not None:
        case["expected"] = plain
        if asserts or metric:  # the case has assertions of its own: its expected must be one of them
            asserts.insert(0, {"type": "equals", "value": "{{ expected }}"})
    if metric:
        asserts = [{**a, "metric": metric} for a in asserts]
    if asserts:
        case["assert"] = asserts
    return case


def cell_assertion(text: str) -> dict[str, Any] | None:
    """``type:value`` or ``type(threshold):value`` in an __expected cell, when ``type`` is a
    registered assertion type (``grade`` is promptfoo's name for ``llm-rubric``); else None."""
    return cell_spec(text, lambda negate, kind: f"{negate}{kind}" in assertion_types())


def cell_spec(text: str, known: Callable[[str, str], bool],
              aliases: dict[str, str] = _CELL_ALIASES) -> dict[str, Any] | None:
    """The assertion an ``[not-]type[(threshold)]:value`` cell names, when ``known(negate, type)``
    (after ``aliases``); else None. Shared by suite loading and the promptfoo importer."""
    m = _CELL_ASSERT.match(text.strip())
    if not m:
        return None
    negate, kind, threshold, value = m.groups()
    kind = aliases.get(kind, kind)
    if not known(negate or "", kind):
        return None
    spec: dict[str, Any] = {"type": f"{negate or ''}{kind}"}
    if value.strip():
        spec["value"] = value.strip()
    if threshold is not None:
        spec["threshold"] = float(threshold)
    return spec
