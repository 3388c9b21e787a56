"""Regression suites: ``datasets/<name>/*.jsonl|yaml|yml|csv``.

A case has an ``id`` (stable; derived from its vars when absent), ``vars``, an optional
``expected``, optional ``assert`` (a list of assertions) and ``tags``. CSV files follow the
common convention: every column is a variable except ``__expected`` (the expected answer, or an
assertion written ``type:value``), ``__id``, ``__tags`` (comma separated) and ``__description``,
plus promptfoo's ``__expectedN``, ``__metric``, ``__threshold`` and ``__metadata:KEY``. YAML suites
may be a mapping with ``defaults:`` and ``cases:``; variables may be ``file://PATH``; see
:mod:`promptops.suite_shapes` and :mod:`promptops.fileref`.
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
from .assertions import GradeError, case_specs, substitute, validate_assertion
from .assertions.transforms import compile_transform
from .errors import RenderError, SuiteError
from .fileref import Files, is_ref, working_tree
from .prompts import check_variables
from .suite_shapes import (cell_assertion, csv_case, csv_special, expand_vars, merge_defaults, resolve_refs,
                           scalar_text, suite_mapping, text_of_vars)

SUITE_SUFFIXES = (".jsonl", ".yaml", ".yml", ".csv")
CASE_KEYS = {"id", "vars", "expected", "assert", "tags", "description", "options", "threshold", "metadata"}
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
    threshold: float | None = None  # the case passes when its weighted score reaches it
    metadata: dict[str, Any] = field(default_factory=dict)
    # the source text of YAML scalars read as non-strings (``yes``, ``007``), and whether the
    # vars are CSV text: check_cases gives each the type the prompt's input declares
    text_vars: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    from_csv: bool = field(default=False, compare=False, repr=False)

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
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.metadata:
            out["metadata"] = self.metadata
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


def load_suite(path: Path | str, root: Path | str | None = None) -> list[Case]:
    """Load every case of a suite (a file or a folder) from disk; ``file://`` references stay
    inside ``root`` (default: the nearest folder above with promptops.yaml or .git)."""
    path = Path(path).absolute()
    return parse_suite_texts(suite_texts(path), files=Files(root if root is not None else working_tree(path)))


def suite_texts(path: Path) -> list[tuple[str, str]]:
    """(name, text) of each file of a suite on disk."""
    path = Path(path).absolute()
    files = suite_files(path)
    if not files:
        raise SuiteError("suite folder holds no .jsonl, .yaml or .csv file", where=str(path))
    texts = []
    for f in files:
        try:
            texts.append((str(f), f.read_text(encoding="utf-8")))
        except UnicodeDecodeError:
            raise SuiteError("not UTF-8 text", where=str(f)) from None
    return texts


def parse_suite_texts(texts: list[tuple[str, str]], files: Files | None = None) -> list[Case]:
    """Parse suite files given as (name, text) pairs; names decide the format by suffix.
    ``files`` reads ``file://`` references (default: the working tree under the current folder)."""
    files = files or Files(Path.cwd())
    cases: list[Case] = []
    for name, text in texts:
        # Excel's "CSV UTF-8" (and some editors) start the file with a byte-order mark; left in,
        # it becomes part of the first column's name, and an `__expected` column would be lost
        text = text.removeprefix("\ufeff")
        suffix = Path(name).suffix
        if suffix == ".jsonl":
            cases.extend(_parse_jsonl(text, name, files))
        elif suffix in (".yaml", ".yml"):
            cases.extend(_parse_yaml(text, name, files))
        elif suffix == ".csv":
            cases.extend(_parse_csv(text, name, files))
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


def _parse_jsonl(text: str, name: str, files: Files) -> list[Case]:
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
        except ValueError as exc:  # an integer past Python's 4,300-digit conversion limit
            raise SuiteError(f"invalid JSON: {exc}", where=f"{name}:{n}",
                             hint="write a number that long as a string") from None
        # a line of JSON yields a lone surrogate only through a \\u escape, a file it reads, or one in its text
        scan = "\\u" in line or "file://" in line or lone_surrogate_at(line) is not None
        out.extend(_cases(row, name, f"{name}:{n}", files, scan=scan))
    return out


def _cases(row: Any, name: str, where: str, files: Files, defaults: dict[str, Any] | None = None,
           expand: bool = False, node: yaml.Node | None = None, scan: bool = True) -> list[Case]:
    """The case(s) of one row: defaults merged, ``file://`` values read, variable lists expanded."""
    own = row.get("vars") if isinstance(row, dict) else None
    row = merge_defaults(row, defaults or {}, where)
    if not isinstance(row, dict):
        return [_case(row, where, scan)]
    row = resolve_refs(row, name, where, files)
    text_vars = {k: v for k, v in (defaults or {}).get("_text", {}).items() if not (isinstance(own, dict) and k in own)}
    text_vars.update(text_of_vars(node))
    expected_text = scalar_text(node, "expected")
    if expected_text is not None:
        row = {**row, "expected": expected_text}  # `expected: 007` is the text written, as output is text
    variables = row.get("vars")
    if not expand or not isinstance(variables, dict) or not any(isinstance(v, list) for v in variables.values()):
        case = _case(row, where, scan)
        case.text_vars = text_vars
        return [case]
    out = []
    for i, combo in enumerate(expand_vars(variables, where), start=1):
        variant = {**row, "vars": combo}
        if "id" in row:
            variant["id"] = f"{row['id']}-{i}"
        case = _case(variant, where, scan)
        case.text_vars = {k: v for k, v in text_vars.items() if not isinstance(variables.get(k), list)}
        out.append(case)
    return out


def _parse_yaml(text: str, name: str, files: Files) -> list[Case]:
    try:
        node = yamlsafe.compose(text)
        data = yamlsafe.load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark else name
        raise SuiteError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", where=where) from None
    if data is None:
        return []
    defaults: dict[str, Any] = {}
    expand = False
    if isinstance(data, dict) and data.keys() & {"cases", "tests", "defaults", "defaultTest"}:
        if is_ref(data.get("cases", data.get("tests"))):
            return _cases_ref(data, node, name, files)
        data, lines, defaults, expand, nodes = suite_mapping(data, node, name, files)
    elif isinstance(data, list):
        nodes = list(node.value) if isinstance(node, yaml.SequenceNode) else [None] * len(data)
        lines = [item.start_mark.line + 1 for item in nodes if item is not None]
    else:
        raise SuiteError("a YAML suite is a list of cases (or a mapping with 'cases:')", where=f"{name}:1")
    out = []
    for i, row in enumerate(data):
        where = f"{name}:{lines[i] if i < len(lines) else 1}"
        out.extend(_cases(row, name, where, files, defaults, expand, nodes[i] if i < len(nodes) else None))
    return out


def _cases_ref(data: dict[str, Any], node: yaml.Node, name: str, files: Files) -> list[Case]:
    """``cases: file://other.csv`` (or .yaml, .jsonl): that file's cases, with this file's defaults."""
    ref = data.get("cases", data.get("tests"))
    rel, text = files.text(ref, name, f"{name}:1")
    if rel == name or Path(rel) == Path(name):
        raise SuiteError(f"'{ref}' names the suite itself", where=f"{name}:1")
    inner = parse_suite_texts([(rel, text)], files)
    _, _, defaults, expand, _ = suite_mapping({k: v for k, v in data.items() if k not in ("cases", "tests")}, node, name, files)
    if not defaults.get("vars") and not defaults.get("assert") and not defaults.get("options") \
            and defaults.get("threshold") is None and not expand:
        return inner
    out = []
    for case in inner:
        for merged in _cases(case.to_dict() | ({"description": case.description} if case.description else {}),
                             name, case.where, files, defaults, expand):
            merged.from_csv, merged.text_vars = case.from_csv, {**merged.text_vars, **case.text_vars}
            out.append(merged)
    return out


def _parse_csv(text: str, name: str, files: Files) -> list[Case]:
    reader = csv.reader(io.StringIO(text))
    try:
        return _csv_cases(reader, name, files)
    except csv.Error as exc:  # a stray quote or newline, a cell over the csv module's 128 KiB limit
        hint = ("keep long text in its own file and name it with file://PATH in the cell" if "field limit" in str(exc)
                else "quote cells that hold commas, quotes or line breaks")
        raise SuiteError(f"not a readable CSV row: {exc}", where=f"{name}:{max(reader.line_num, 1)}",
                         hint=hint) from None


def _csv_cases(reader: Any, name: str, files: Files) -> list[Case]:
    try:
        header = next(reader)
    except StopIteration:
        return []
    header = [h.strip() for h in header]
    if len(set(header)) != len(header):
        raise SuiteError("duplicate column names", where=f"{name}:1")
    csv_special(header, name)
    out = []
    for n, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise SuiteError(f"row has {len(row)} cells, the header has {len(header)}", where=f"{name}:{n}",
                             hint="quote cells that contain commas")
        for case in _cases(csv_case(dict(zip(header, row)), f"{name}:{n}"), name, f"{name}:{n}", files):
            case.from_csv = True
            out.append(case)
    return out


def _expected_assertion(text: str) -> dict[str, Any] | None:
    """``type:value`` in an __expected cell is an assertion when ``type`` is a registered one."""
    return cell_assertion(text)


def _case(row: Any, where: str, scan: bool = True) -> Case:
    if not isinstance(row, dict):
        raise SuiteError("a case must be a mapping with 'vars'", where=where)
    if scan and (bad := lone_surrogate_at(row)):
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
    threshold = row.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 <= threshold <= 1):
        raise SuiteError(f"'threshold' must be a number between 0 and 1, got {threshold!r}", where=where)
    metadata = row.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SuiteError("'metadata' must be a mapping", where=where)
    cid = row.get("id")
    if cid is not None and (not isinstance(cid, (str, int)) or str(cid).strip() == ""):
        raise SuiteError("'id' must be a non-empty string", where=where)
    return Case(id=str(cid) if cid is not None else case_id(variables), vars=variables,
                expected=row.get("expected"), asserts=asserts, tags=[str(t) for t in tags],
                description=str(row.get("description", "")), where=where, options=options,
                threshold=None if threshold is None else float(threshold), metadata=metadata)


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
    """Every case must give each required input of the prompt, of its type, and every assertion
    value must render with the case's variables (fail before any call is made). CSV cells and
    YAML scalars read as non-strings take the type the prompt's input declares."""
    required = [k for k, spec in prompt.inputs.items() if spec.required and spec.default is None]
    for case in cases:
        missing = [k for k in required if k not in case.vars]
        if missing:
            raise SuiteError(f"case '{case.id}' lacks variable(s) {', '.join(missing)} that prompt "
                             f"'{prompt.name}' needs", where=case.where,
                             hint="add them under vars, or fix the prompt's input")
        _typed(case, prompt)
        try:
            check_variables(prompt, case.vars, strict=False)
        except RenderError as exc:  # a wrong type: name the case's line, not the prompt file
            raise SuiteError(f"case '{case.id}': {exc.message}", where=case.where, hint=exc.hint) from None
        for spec in case_specs(prompt.asserts, case.asserts, case.expected):
            if not isinstance(spec, dict) or spec.get("value") is None:
                continue
            try:
                substitute(spec["value"], case.expected, case.vars)
            except GradeError as exc:
                raise SuiteError(f"case '{case.id}': '{spec.get('type')}' assertion: {exc}", where=case.where,
                                 hint="assertion values are Jinja2 templates over the case's vars and expected"
                                 ) from None


def _typed(case: Case, prompt) -> None:
    for key, spec in prompt.inputs.items():
        value = case.vars.get(key)
        if spec.type == "string" and key in case.text_vars and not isinstance(value, str):
            case.vars[key] = case.text_vars[key]  # `yes` and `007` are the text written
        elif case.from_csv and isinstance(value, str) and spec.type in ("integer", "number", "boolean", "list",
                                                                         "object", "messages"):
            try:
                case.vars[key] = json.loads(value)
            except ValueError:
                raise SuiteError(f"case '{case.id}': the CSV cell for '{key}' is not JSON (the input is "
                                 f"{spec.type})", where=case.where,
                                 hint='write e.g. ["a", "b"] or {"k": 1} in the cell, quoted as CSV') from None
