"""Regression suites: ``datasets/<name>/*.jsonl|yaml|yml|csv``.

A case has an ``id`` (stable; derived from its vars when absent), ``vars``, an optional
``expected``, optional ``assert`` (a list of assertions) and ``tags``. CSV files follow the
common convention: every column is a variable except ``__expected`` (the expected answer, or an
assertion written ``type:value``), ``__id``, ``__tags`` (comma separated) and ``__description``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._util import yamlsafe
from ._util.text import lone_surrogate_at
from .assertions import assertion_types, validate_assertion
from .assertions.transforms import compile_transform
from .errors import RenderError, SuiteError
from .prompts import check_variables

SUITE_SUFFIXES = (".jsonl", ".yaml", ".yml", ".csv")
CASE_KEYS = {"id", "vars", "expected", "assert", "tags", "description", "options"}
OPTION_KEYS = {"transform"}  # options: {transform: <expression over output and vars>}


@dataclass
class Case:
    id: str
    vars: dict[str, Any]
    expected: Any = None
    asserts: list[dict[str, Any]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    description: str = ""
    where: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "vars": self.vars}
        if self.expected is not None:
            out["expected"] = self.expected
        if self.asserts:
            out["assert"] = self.asserts
        if self.tags:
            out["tags"] = self.tags
        if self.options:
            out["options"] = self.options
        return out


def case_id(vars: dict[str, Any]) -> str:
    """A stable id from a case's variables: the first 10 hex digits of their canonical hash."""
    data = json.dumps(vars, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()[:10]


def suite_files(path: Path) -> list[Path]:
    """The files of a suite: the file itself, or every suite file in the folder, sorted."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix in SUITE_SUFFIXES)
    raise SuiteError("suite path does not exist", where=str(path),
                     hint="create the folder with a .jsonl, .yaml or .csv file, or fix the prompt's 'suite'")


def load_suite(path: Path | str) -> list[Case]:
    """Load every case of a suite (a file or a folder) from disk."""
    path = Path(path)
    files = suite_files(path)
    if not files:
        raise SuiteError("suite folder holds no .jsonl, .yaml or .csv file", where=str(path))
    texts = []
    for f in files:
        try:
            texts.append((str(f), f.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            raise SuiteError("not UTF-8 text", where=str(f)) from None
    return parse_suite_texts(texts)


def parse_suite_texts(texts: list[tuple[str, str]]) -> list[Case]:
    """Parse suite files given as (name, text) pairs; names decide the format by suffix."""
    cases: list[Case] = []
    for name, text in texts:
        # Excel's "CSV UTF-8" (and some editors) start the file with a byte-order mark; left in,
        # it becomes part of the first column's name, and an `__expected` column would be lost
        text = text.removeprefix("\ufeff")
        suffix = Path(name).suffix
        if suffix == ".jsonl":
            cases.extend(_parse_jsonl(text, name))
        elif suffix in (".yaml", ".yml"):
            cases.extend(_parse_yaml(text, name))
        elif suffix == ".csv":
            cases.extend(_parse_csv(text, name))
        else:
            raise SuiteError(f"unsupported suite file type '{suffix}'", where=name,
                             hint="use .jsonl, .yaml or .csv")
    seen: dict[str, Case] = {}
    for case in cases:
        if case.id in seen:
            raise SuiteError(f"duplicate case id '{case.id}' (also at {seen[case.id].where})", where=case.where,
                             hint="give each case a unique id, or remove the duplicate")
        seen[case.id] = case
    return cases


def _parse_jsonl(text: str, name: str) -> list[Case]:
    out = []
    for n, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"invalid JSON: {exc.msg} (column {exc.colno})", where=f"{name}:{n}",
                             hint="each line must be one JSON object") from None
        except RecursionError:
            raise SuiteError("invalid JSON: nested too deep", where=f"{name}:{n}",
                             hint="each line must be one JSON object of ordinary depth") from None
        out.append(_case(row, f"{name}:{n}"))
    return out


def _parse_yaml(text: str, name: str) -> list[Case]:
    try:
        node = yamlsafe.compose(text)
        data = yamlsafe.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise SuiteError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", where=where) from None
    if data is None:
        return []
    if isinstance(data, dict) and "cases" in data:
        data = data["cases"]
        node = next((v for k, v in node.value if k.value == "cases"), node)
    if not isinstance(data, list):
        raise SuiteError("a YAML suite is a list of cases (or a mapping with 'cases:')", where=f"{name}:1")
    lines = [item.start_mark.line + 1 for item in node.value] if isinstance(node, yaml.SequenceNode) else []
    return [_case(row, f"{name}:{lines[i] if i < len(lines) else 1}") for i, row in enumerate(data)]


def _parse_csv(text: str, name: str) -> list[Case]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return []
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise SuiteError("duplicate column names", where=f"{name}:1")
    unknown = [h for h in header if h.startswith("__") and h not in ("__expected", "__id", "__tags", "__description")]
    if unknown:
        raise SuiteError(f"unknown special column(s): {', '.join(unknown)}", where=f"{name}:1",
                         hint="special columns are __expected, __id, __tags, __description")
    out = []
    for n, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise SuiteError(f"row has {len(row)} cells, the header has {len(header)}", where=f"{name}:{n}",
                             hint="quote cells that contain commas")
        cells = dict(zip(header, row))
        case: dict[str, Any] = {"vars": {k: v for k, v in cells.items() if not k.startswith("__")}}
        if cells.get("__id"):
            case["id"] = cells["__id"]
        if cells.get("__tags"):
            case["tags"] = [t.strip() for t in cells["__tags"].split(",") if t.strip()]
        if cells.get("__description"):
            case["description"] = cells["__description"]
        expected = cells.get("__expected", "")
        if expected:
            spec = _expected_assertion(expected)
            if spec is None:
                case["expected"] = expected
            else:
                case["assert"] = [spec]
        out.append(_case(case, f"{name}:{n}"))
    return out


def _expected_assertion(text: str) -> dict[str, Any] | None:
    """``type:value`` in an __expected cell is an assertion when ``type`` is a registered one."""

    head, sep, rest = text.partition(":")
    if sep and head.strip() in assertion_types():
        spec: dict[str, Any] = {"type": head.strip()}
        if rest.strip():
            spec["value"] = rest.strip()
        return spec
    return None


def _case(row: Any, where: str) -> Case:
    if not isinstance(row, dict):
        raise SuiteError("a case must be a mapping with 'vars'", where=where)
    if bad := lone_surrogate_at(row):
        raise SuiteError(f"'{bad}' holds a lone UTF-16 surrogate (a string cut inside a character)", where=where,
                         hint="re-export the file as UTF-8, or replace the escape like \\ud83d with the whole character")
    unknown = set(row) - CASE_KEYS
    if unknown:
        raise SuiteError(f"unknown case key(s): {', '.join(sorted(unknown))}", where=where,
                         hint=f"case keys are {', '.join(sorted(CASE_KEYS))}")
    variables = row.get("vars", {})
    if not isinstance(variables, dict):
        raise SuiteError("'vars' must be a mapping of variable names to values", where=where)
    asserts = row.get("assert", []) or []
    if isinstance(asserts, dict):
        asserts = [asserts]
    if not isinstance(asserts, list):
        raise SuiteError("'assert' must be a list of assertions", where=where)
    for spec in asserts:
        try:
            validate_assertion(spec)
        except ValueError as exc:
            raise SuiteError(f"bad assertion: {exc}", where=where) from None
    tags = row.get("tags", []) or []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list):
        raise SuiteError("'tags' must be a list", where=where)
    options = _options(row.get("options"), where)
    cid = row.get("id")
    if cid is not None and (not isinstance(cid, (str, int)) or str(cid).strip() == ""):
        raise SuiteError("'id' must be a non-empty string", where=where)
    return Case(id=str(cid) if cid is not None else case_id(variables), vars=variables,
                expected=row.get("expected"), asserts=asserts, tags=[str(t) for t in tags],
                description=str(row.get("description", "")), where=where, options=options)


def _options(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - OPTION_KEYS:
        raise SuiteError(f"'options' takes {', '.join(sorted(OPTION_KEYS))}", where=where,
                         hint="e.g. options: {transform: (output | fromjson).answer}")
    if "transform" in raw:
        try:
            compile_transform(raw["transform"])
        except ValueError as exc:
            raise SuiteError(str(exc), where=where) from None
    return dict(raw)


def check_cases(cases: list[Case], prompt) -> None:
    """Every case must give each required input of the prompt (fail before any call is made)."""
    required = [k for k, spec in prompt.inputs.items() if spec.required and spec.default is None]
    for case in cases:
        missing = [k for k in required if k not in case.vars]
        if missing:
            raise SuiteError(f"case '{case.id}' lacks variable(s) {', '.join(missing)} that prompt "
                             f"'{prompt.name}' needs", where=case.where,
                             hint="add them under vars, or fix the prompt's input")
        try:
            check_variables(prompt, case.vars, strict=False)
        except RenderError as exc:  # a wrong type: name the case's line, not the prompt file
            raise SuiteError(f"case '{case.id}': {exc.message}", where=case.where, hint=exc.hint) from None
