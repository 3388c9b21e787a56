"""promptfoo tests → promptops cases.

Tests come inline, or from ``file://`` CSV, JSONL, YAML and JSON files (globs too). Each gets the
``defaultTest`` merged in as promptfoo does (its vars under the test's, its assertions before the
test's, its options under the test's, its threshold when the test has none); variables holding a
list expand into one case per combination (promptfoo's cartesian product); ``file://`` variables
are read into the case. CSV: every column is a variable except ``__expected`` / ``__expectedN``
(assertions written ``type:value``, ``type(threshold):value``, else ``equals``), ``__description``,
``__metric`` and ``__threshold``.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from pathlib import Path
from typing import Any

from ..suites import CASE_KEYS
from . import promptfoo_asserts as asserts
from .promptfoo_files import load_data, paths, read_text, var_value

TEST_KEYS = {"vars", "assert", "description", "options", "threshold", "metadata"}


def _csv_tests(path: Path) -> list[dict[str, Any]]:
    out = []
    for row in csv.DictReader(io.StringIO(read_text(path))):
        test: dict[str, Any] = {"vars": {}, "assert": []}
        metric = (row.get("__metric") or "").strip()
        for key, cell in row.items():
            key = (key or "").strip()
            cell = cell or ""
            if re.fullmatch(r"__expected\d*", key):
                if cell.strip():
                    spec = asserts.from_csv_cell(cell)
                    if metric:
                        spec["metric"] = metric
                    test["assert"].append(spec)
            elif key == "__description":
                test["description"] = cell
            elif key == "__threshold" and cell.strip():
                test["threshold"] = float(cell)
            elif key.startswith("__"):
                if key != "__metric" and cell.strip():
                    test.setdefault("_skipped", []).append(f"column {key}")
            else:
                test["vars"][key] = cell
        out.append(test)
    return out


def raw_tests(value: Any, base: Path, what: str = "tests") -> list[tuple[dict[str, Any], str]]:
    """(test, where) for everything ``tests:`` lists."""
    items = value if isinstance(value, list) else [value]
    out: list[tuple[dict[str, Any], str]] = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            out.append((item, f"{what}[{i}]"))
            continue
        if not isinstance(item, str):
            out.append(({"_bad": repr(item)}, f"{what}[{i}]"))
            continue
        for path in paths(base, item, what):
            shown = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
            loaded = _csv_tests(path) if path.suffix == ".csv" else load_data(path)
            loaded = loaded if isinstance(loaded, list) else [loaded]
            out.extend((t if isinstance(t, dict) else {"_bad": repr(t)}, f"{shown}[{n}]") for n, t in enumerate(loaded))
    return out


def expand(variables: dict[str, Any]) -> list[dict[str, Any]]:
    """promptfoo's expansion: one dict per combination of the list-valued variables."""
    keys = [k for k, v in variables.items() if isinstance(v, list)]
    if not keys:
        return [variables]
    combos = itertools.product(*(variables[k] for k in keys))
    return [{**variables, **dict(zip(keys, combo))} for combo in combos]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]


def cases(tests: list[tuple[dict[str, Any], str]], default: dict[str, Any], base: Path
          ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(native cases, not-imported lines, notes)."""
    skipped: list[str] = []
    notes: list[str] = []
    out: list[dict[str, Any]] = []
    for test, where in tests:
        if "_bad" in test:
            skipped.append(f"{where}: not a test mapping: {test['_bad'][:80]}")
            continue
        for col in test.pop("_skipped", []):
            skipped.append(f"{where}: {col}")
        for key in sorted(set(test) - TEST_KEYS):
            skipped.append(f"{where}: key '{key}' (per-test {key} is not supported)")
        variables = {**(default.get("vars") or {}), **(test.get("vars") or {})}
        for key, value in list(variables.items()):
            variables[key], note = var_value(base, value)
            if note:
                skipped.append(f"{where}: {note}")
        specs = list(default.get("assert") or []) + list(test.get("assert") or [])
        options = {**(default.get("options") or {}), **(test.get("options") or {})}
        threshold = test.get("threshold", default.get("threshold"))
        native_asserts, lost = [], 0
        for spec in specs:
            native, spec_notes = asserts.convert(spec, set(variables))
            if native is None:
                lost += 1
                skipped.extend(f"{where}: {n}" for n in spec_notes)
            else:
                native_asserts.append(native)
                notes.extend(f"{where}: {n}" for n in spec_notes)
        if specs and not native_asserts:
            skipped.append(f"{where}: the whole test (none of its {len(specs)} assertion(s) could be imported)")
            continue
        case_options: dict[str, Any] = {}
        for key, value in options.items():
            if key == "transform" and asserts.js_transform(value):
                case_options["transform"] = asserts.js_transform(value)
            else:
                skipped.append(f"{where}: options.{key}" + (" (a JavaScript transform with no Jinja2 equivalent)"
                                                            if key == "transform" else ""))
        if test.get("metadata"):
            skipped.append(f"{where}: metadata")
        if threshold is not None and "threshold" not in CASE_KEYS:
            skipped.append(f"{where}: threshold {threshold} (this promptops has no per-case threshold: every "
                           "assertion must pass)")
        description = str(test.get("description") or "")
        for variant in expand(variables):
            n = len(out) + 1
            case: dict[str, Any] = {"id": f"{n:03d}" + (f"-{_slug(description)}" if _slug(description) else ""),
                                    "vars": variant}
            if description:
                case["description"] = description
            if native_asserts:
                case["assert"] = native_asserts
            if case_options:
                case["options"] = case_options
            if threshold is not None and "threshold" in CASE_KEYS:
                case["threshold"] = threshold
            if lost:
                case["tags"] = ["import-partial"]
            out.append(case)
    return out, skipped, notes
