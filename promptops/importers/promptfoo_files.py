"""Reading what a promptfoo config points at: ``file://`` paths (and globs), relative to the config.

promptfoo resolves ``file://`` against the config file's folder; so do these. A missing file is a
:class:`~promptops.errors.ConfigError` naming it and the config key that asked for it.
"""

from __future__ import annotations

import glob
import json
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

TEXT_SUFFIXES = {".txt", ".md", ".j2", ".jinja", ".nunjucks", ".njk", ""}


def strip_scheme(ref: str) -> str:
    return ref[len("file://"):] if ref.startswith("file://") else ref


def paths(base: Path, ref: str, what: str) -> list[Path]:
    """The files ``ref`` names (a path or a glob), relative to ``base``; at least one."""
    text = re.sub(r"(\.(py|js|ts|mjs|cjs)):[A-Za-z_]\w*$", r"\1", strip_scheme(ref))  # file.py:function
    pattern = str(base / text) if not Path(text).is_absolute() else text
    if any(ch in text for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
        if not found:
            raise ConfigError(f"{what}: no file matches {ref}", where=str(base), hint="check the path or the glob")
        return found
    path = Path(pattern)
    if not path.is_file():
        raise ConfigError(f"{what}: file not found: {ref}", where=str(path),
                          hint="file:// paths are relative to the folder of promptfooconfig.yaml")
    return [path]


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", where=str(path)) from None


def load_data(path: Path) -> Any:
    """A .json, .jsonl, .yaml or .yml file's data (JSONL: a list of its lines)."""
    text = read_text(path)
    try:
        if path.suffix == ".json":
            return json.loads(text)
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        if path.suffix in (".yaml", ".yml"):
            return yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot parse: {str(exc).splitlines()[0]}", where=str(path)) from None
    raise ConfigError(f"unsupported file type '{path.suffix}'", where=str(path),
                      hint="use .json, .jsonl, .yaml, .yml or .csv")


def var_value(base: Path, value: Any) -> tuple[Any, str | None]:
    """A test variable's value with a ``file://`` reference read (text; .json/.yaml parsed), and a
    note when it cannot be read (a script)."""
    if not (isinstance(value, str) and value.startswith("file://")):
        return value, None
    path = paths(base, value, "vars")[0]
    if path.suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
        return value, f"variable {value}: a script that computes the value is not run"
    if path.suffix in (".json", ".yaml", ".yml"):
        return load_data(path), None
    return read_text(path), None
