"""``promptops import promptfoo``: a promptfoo config → native prompts, one suite, and models.

:func:`import_promptfoo` reads ``promptfooconfig.yaml`` (and the files it names) and writes, into
a project folder:

- ``prompts/<name>.prompt`` per promptfoo prompt (inputs declared from the variables it uses,
  typed from the tests' values; ``models:`` the providers bound to it);
- ``datasets/<base>.yaml``: every test as a case (``defaultTest`` merged in, variable lists
  expanded), shared by all the prompts;
- ``promptops.yaml``: ``models:`` entries for providers that need settings (endpoint, key
  variable, parameters); merged into an existing file, keeping what is there;
- ``promptfoo-import.md``: what was imported and, line by line, what was not and why.

Nothing is dropped silently: every key, assertion, provider or option that has no promptops
equivalent is listed in the result's ``not_imported`` (printed by the CLI and in the report). An
API key written in the config is never copied anywhere: the model entry names an environment
variable instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import CONFIG_FILE, Config
from ..errors import ConfigError, PromptFileError
from ..prompts import NAME_RE, parse_prompt
from ..suites import parse_suite_texts
from ..templating import environment
from . import promptfoo_prompts as pf_prompts
from . import promptfoo_providers as pf_providers
from . import promptfoo_tests as pf_tests
from .promptfoo_files import load_data, paths

REPORT_FILE = "promptfoo-import.md"
KNOWN_KEYS = {"description", "prompts", "providers", "targets", "tests", "defaultTest"}
IGNORED_KEYS = {"outputPath", "sharing", "writeLatestResults", "$schema", "tags"}


@dataclass
class ImportResult:
    written: list[Path] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    cases: int = 0
    not_imported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    env_to_set: list[str] = field(default_factory=list)
    report: Path | None = None


def _slug(text: str, fallback: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60]
    return slug if slug and NAME_RE.match(slug) else fallback


def _load(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError("promptfoo config not found", where=str(path),
                          hint="give the path of promptfooconfig.yaml")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8").removeprefix("\ufeff"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}",
                          where=f"{path}:{mark.line + 1}" if mark else str(path)) from None
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", where=str(path)) from None
    if not isinstance(data, dict):
        raise ConfigError("a promptfoo config is a YAML mapping (prompts, providers, tests)", where=str(path))
    return data


def _type_of(values: list[Any]) -> str:
    kinds = {("boolean" if isinstance(v, bool) else "integer" if isinstance(v, int) else "number"
              if isinstance(v, float) else "list" if isinstance(v, list) else "object" if isinstance(v, dict)
              else "string" if isinstance(v, str) else "any") for v in values}
    if kinds <= {"integer", "number"} and kinds:
        return "number" if "number" in kinds else "integer"
    return kinds.pop() if len(kinds) == 1 else "any"


def _template_vars(body: str) -> set[str]:
    from jinja2 import meta

    return set(meta.find_undeclared_variables(environment().parse(body)))


def import_promptfoo(config_path: Path | str, out: Path | str = ".", *, name: str | None = None,
                     force: bool = False) -> ImportResult:
    """Import a promptfoo config into the project at ``out`` (see the module docstring)."""
    config_path = Path(config_path)
    out = Path(out)
    data = _load(config_path)
    base = config_path.resolve().parent
    result = ImportResult()
    for key in sorted(set(data) - KNOWN_KEYS - IGNORED_KEYS):
        result.not_imported.append(f"config key '{key}'" + (" (red teaming)" if key == "redteam" else ""))
    suite_base = name or _slug(str(data.get("description") or ""), "promptfoo").lower()

    # prompts
    raw_prompts = data.get("prompts")
    if raw_prompts is None:
        raise ConfigError("the config has no prompts", where=str(config_path), hint="add prompts: [...]")
    if isinstance(raw_prompts, dict):  # the old form {file: label}
        raw_prompts = [{"id": k, "label": v} for k, v in raw_prompts.items()]
    sources: list[pf_prompts.SourcePrompt] = []
    for i, raw in enumerate(raw_prompts if isinstance(raw_prompts, list) else [raw_prompts]):
        found, skipped = pf_prompts.read(raw, base, i)
        sources += found
        result.not_imported += skipped

    # providers
    providers: list[pf_providers.Provider] = []
    raw_providers = data.get("providers", data.get("targets")) or []
    for i, raw in enumerate(raw_providers if isinstance(raw_providers, list) else [raw_providers]):
        got = pf_providers.convert(raw, i)
        if isinstance(got, str):
            result.not_imported.append(got)
            continue
        keys = {p.key for p in providers}
        while got.key in keys:
            got.key += "-2"
        providers.append(got)
        result.not_imported += [n for n in got.notes if "not imported" in n]
        result.notes += [n for n in got.notes if "not imported" not in n]
        if got.secret_env:
            result.env_to_set.append(got.secret_env)
    if not providers:
        result.not_imported.append("no provider could be imported: the prompts use promptops.yaml's default_model")

    # tests
    default = data.get("defaultTest") or {}
    if isinstance(default, str):
        default = load_data(paths(base, default, "defaultTest")[0])
    if not isinstance(default, dict):
        raise ConfigError("defaultTest must be a mapping", where=str(config_path))
    for key in sorted(set(default) - pf_tests.TEST_KEYS):
        result.not_imported.append(f"defaultTest: key '{key}'")
    tests = pf_tests.raw_tests(data.get("tests") or [], base)
    cases, skipped, notes = pf_tests.cases(tests, default, base)
    result.not_imported += skipped
    result.notes += notes
    if not cases:
        raise ConfigError("no test could be imported", where=str(config_path),
                          hint="a promptops suite needs cases: add tests, or see the lines above")
    var_values: dict[str, list[Any]] = {}
    for case in cases:
        for key, value in case["vars"].items():
            var_values.setdefault(key, []).append(value)

    # write
    suite_rel = f"datasets/{suite_base}.yaml"
    files: dict[str, str] = {suite_rel: pf_prompts.front_yaml({"cases": cases})}
    used_names: set[str] = set()
    for src in sources:
        pname = _slug(src.name_hint, "prompt").lower()
        while pname in used_names:
            pname += "-2"
        body, problem = pf_prompts.body(src.messages)
        if problem:
            result.not_imported.append(f"prompt {src.origin}: {problem}")
            continue
        try:
            used = sorted(_template_vars(body))
        except Exception as exc:  # noqa: BLE001 - jinja2 syntax errors: Nunjucks that Jinja2 does not read
            result.not_imported.append(f"prompt {src.origin}: its template is not Jinja2 ({exc})")
            continue
        inputs: dict[str, Any] = {}
        for var in used:
            values = var_values.get(var, [])
            spec: dict[str, Any] = {"type": _type_of(values) if values else "string"}
            if len(values) < len(cases):
                spec.update(required=False, default="")
            inputs[var] = spec if len(spec) > 1 else spec["type"]
        bound = [p for p in providers if p.prompts is None or src.label in p.prompts or src.name_hint in p.prompts]
        front: dict[str, Any] = {"name": pname, "description": f"imported from promptfoo ({src.origin})"}
        if inputs:
            front["input"] = inputs
        front["suite"] = suite_rel
        if bound:
            front["models"] = [p.key for p in bound]
        settings = [p.prompt_settings for p in bound if p.prompt_settings]
        if settings:
            front.update(settings[0])
            if any(s != settings[0] for s in settings):
                result.not_imported.append(f"prompt {pname}: its providers declare different tools/response_format;"
                                           " the first provider's are used")
        text = f"---\n{pf_prompts.front_yaml(front)}---\n{body}"
        try:
            parse_prompt(text, source=f"prompts/{pname}.prompt", expected_name=pname)
        except PromptFileError as exc:
            result.not_imported.append(f"prompt {src.origin}: {exc.one_line()}")
            continue
        used_names.add(pname)
        files[f"prompts/{pname}.prompt"] = text
        result.prompts.append(pname)
    if not result.prompts:
        raise ConfigError("no prompt could be imported", where=str(config_path),
                          hint="; ".join(result.not_imported[-3:]) or "add prompts")
    parse_suite_texts([(suite_rel, files[suite_rel])])  # what promptops will read back
    result.cases = len(cases)

    existing = [rel for rel in files if (out / rel).exists()]
    if existing and not force:
        raise ConfigError(f"already exists: {', '.join(existing)}", where=str(out),
                          hint="use --force to overwrite, --name to import under another name, or --out DIR")
    for rel, text in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        result.written.append(path)
    entries = {p.key: p.entry for p in providers if p.entry}
    default_model = providers[0].key if providers else None
    cfg = _write_config(out, entries, default_model, result)
    if cfg is not None:
        result.written.append(cfg)
    result.models = [p.key for p in providers]
    result.report = out / REPORT_FILE
    result.report.write_text(report_text(result, config_path), encoding="utf-8")
    result.written.append(result.report)
    return result


def _write_config(out: Path, entries: dict[str, dict], default_model: str | None, result: ImportResult) -> Path | None:
    """Add the model entries to ``promptops.yaml`` (created when missing); existing keys are kept."""
    path = out / CONFIG_FILE
    if not path.exists():
        data: dict[str, Any] = {}
        if default_model:
            data["default_model"] = default_model
        if entries:
            data["models"] = entries
        path.write_text("# written by promptops import promptfoo\n" + pf_prompts.front_yaml(data or {"models": {}}),
                        encoding="utf-8")
        _check_config(path.read_text(encoding="utf-8"), path)
        return path
    text = path.read_text(encoding="utf-8")
    current = yaml.safe_load(text) or {}
    models = current.get("models") or {}
    new = {}
    for key, entry in entries.items():
        if key in models and models[key] != entry:
            result.not_imported.append(f"model '{key}': promptops.yaml already has a different entry (kept)")
        elif key not in models:
            new[key] = entry
    if not new:
        return None
    block = pf_prompts.front_yaml({"models": new})
    if "models" not in current:
        text = text.rstrip("\n") + "\n" + block
    else:
        m = re.search(r"^models:[ \t]*\n", text, re.M)
        nxt = re.match(r"(?:[ \t]*(?:#.*)?\n)*([ \t]+)\S", text[m.end():]) if m else None
        if nxt is None or "\t" in nxt.group(1):  # a flow-style or empty models: rewritten
            text = pf_prompts.front_yaml(dict(current, models={**models, **new}))
            result.notes.append("promptops.yaml rewritten to add the models (its comments are lost)")
        else:
            indent = nxt.group(1)
            block = pf_prompts.front_yaml(new, indent=max(2, len(indent)))
            text = text[:m.end()] + "".join(indent + ln + "\n" for ln in block.splitlines()) + text[m.end():]
    _check_config(text, path)  # refuse to write a config promptops cannot read
    path.write_text(text, encoding="utf-8")
    return path


def _check_config(text: str, path: Path) -> None:
    try:
        Config.from_dict(yaml.safe_load(text) or {})
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"the merged promptops.yaml would not load: {exc}", where=str(path),
                          hint="add the models shown in the report by hand") from None


def report_text(result: ImportResult, config_path: Path) -> str:
    lines = [f"# promptfoo import of {config_path}", "",
             f"- prompts: {', '.join(result.prompts)}", f"- models: {', '.join(result.models) or '(default_model)'}",
             f"- cases: {result.cases}", ""]
    if result.env_to_set:
        lines += ["## Set in the environment", ""] + [f"- `{e}` (an API key that was written in the config)"
                                                     for e in result.env_to_set] + [""]
    lines += ["## Not imported", ""] + ([f"- {n}" for n in result.not_imported] or ["- nothing"]) + [""]
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    return "\n".join(lines)
