"""Prompt files: parse, validate, hash and render ``prompts/<name>.prompt``.

A prompt file is YAML front matter between ``---`` lines, then a body of role sections::

    ---
    name: sentiment
    input: {sentence: string}
    suite: datasets/sentiment
    ---
    system:
    Answer positive or negative.
    user:
    {{ sentence }}

Each section is a Jinja2 template rendered in a sandbox where an undefined variable is an error.
The version of a prompt is a hash of its parsed content, so the same content gives the same
version at any commit, and re-indenting the front matter changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ._util import yamlsafe
from .fileref import suite_path
from .templating import compile_template, environment, render_bounded
from .assertions import validate_assertion
from . import fewshot as _fewshot
from . import prompt_refs as _refs
from .chat import PLACEHOLDER_RE, _is_endpoint_param, call_settings, check_messages
from .errors import PromptFileError, RenderError

ROLES = ("system", "user", "assistant")
FRONT_KEYS = {
    "name": "the prompt's name (the file name without .prompt)",
    "description": "one line on what it does",
    "model": "the default model",
    "models": "models to score against",
    "params": "model parameters (temperature, max_tokens, stop, seed, ...)",
    "input": "declared variables and their types",
    "suite": "path of the regression suite",
    "target": "accuracy goal, 0..1",
    "min": "lowest acceptable accuracy, 0..1 (a CI gate)",
    "assert": "default assertions for every case",
    "labels": "the label set, for classification prompts",
    "escalate": "plateau settings: window, delta, budget",
    "tags": "free-form tags",
    "tools": "OpenAI function schemas the model may call",
    "tool_choice": "auto, none, required, or a tool's name",
    "response_format": "structured output: {type: json_object}, json_schema, or a JSON schema",
    "fewshot": "dynamic few-shot: {from: <dataset>, k: 4, select: similar|random|fixed, sha256: ...}",
}
INPUT_TYPES = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "list": (list,),
    "object": (dict,),
    "any": (object,),
    "messages": (list,),  # chat history: [{role, content}], inserted by a 'messages: <var>' body line
}
_TYPE_ALIASES = {"str": "string", "int": "integer", "float": "number", "bool": "boolean",
                 "array": "list", "dict": "object"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # also keeps names inside prompts/
_HEADER_RE = re.compile(r"^([a-z_]+):\s*$")


@dataclass(frozen=True)
class InputSpec:
    type: str = "string"
    required: bool = True
    default: Any = None
    description: str = ""


@dataclass(frozen=True)
class Section:
    role: str
    template: str
    line: int  # 1-based line in the file of the section's first content line
    origin: str = ""  # the file the template was read from (``file://``); "" for the prompt file


@dataclass
class Prompt:
    """One parsed, validated prompt file."""

    name: str
    source: str
    front: dict[str, Any]
    sections: list[Section]
    description: str = ""
    model: str | None = None
    models: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    suite: str | None = None
    target: float | None = None
    min: float | None = None
    asserts: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    escalate: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    hash: str = ""
    fewshot: Any = None  # a promptops.fewshot.FewShot: example turns inserted at render time
    refs: dict[str, str] = field(default_factory=dict)  # files the front matter names (file://): path -> sha256

    @property
    def version(self) -> str:
        """Short version id: the first 12 hex digits of the content hash."""
        return self.hash[:12]

    def models_or(self, default_model: str) -> list[str]:
        if self.models:
            return list(self.models)
        return [self.model or default_model]

    def render(self, variables: dict[str, Any], *, strict: bool = True) -> list[dict[str, str]]:
        """Render the chat messages. ``strict`` rejects variables the prompt does not declare."""
        values = check_variables(self, variables, strict=strict)
        messages = []
        for section in self.sections:
            if section.role == "messages":
                messages.extend(check_messages(values[section.template], section.template))
                continue
            template = compile_template(section.template)
            try:
                text = render_bounded(template, values)
            except RenderError as exc:
                raise RenderError(exc.message, where=f"{section.origin or self.source}:{section.line}", hint=exc.hint) from None
            except Exception as exc:  # jinja2 raises many kinds; all mean "this render failed"
                raise RenderError(f"{type(exc).__name__}: {exc}", where=f"{section.origin or self.source}:{section.line}",
                                  hint="check the variables passed and the template") from None
            messages.append({"role": section.role, "content": text.strip()})
        return self.fewshot.insert(self, values, messages) if self.fewshot is not None else messages

    def to_text(self) -> str:
        """A canonical text form of the prompt (used for diffs and display): the files it names inlined."""
        front = {**self.front, "assert": self.asserts} if self.refs and "assert" in self.front else self.front
        front = yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip()
        body = "\n".join(f"messages: {s.template}" if s.role == "messages" else f"{s.role}:\n{s.template.strip()}"
                         for s in self.sections)
        return f"---\n{front}\n---\n{body}\n"


def check_variables(prompt: Prompt, variables: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """Validate variables against the declared inputs; return them with defaults filled in."""
    if not isinstance(variables, dict):
        raise RenderError("variables must be a mapping", where=prompt.source)
    values: dict[str, Any] = {}
    for key, spec in prompt.inputs.items():
        if key in variables:
            value = variables[key]
            if spec.type != "any" and not _type_ok(value, spec.type):
                raise RenderError(f"variable '{key}' must be {spec.type}, got {type(value).__name__}",
                                  where=prompt.source, hint=f"pass a {spec.type} for '{key}'")
            if spec.type == "messages":
                try:
                    check_messages(value, key)
                except RenderError as exc:
                    raise RenderError(exc.message, where=prompt.source, hint=exc.hint) from None
            values[key] = value
        elif spec.required and spec.default is None:
            raise RenderError(f"missing variable '{key}'", where=prompt.source,
                              hint=f"pass {key}=... (declared inputs: {', '.join(prompt.inputs)})")
        else:
            values[key] = spec.default
    extra = sorted(set(variables) - set(prompt.inputs))
    if extra and strict:
        raise RenderError(f"unknown variable(s): {', '.join(extra)}", where=prompt.source,
                          hint=f"declared inputs: {', '.join(prompt.inputs) or '(none)'}")
    return values


def _type_ok(value: Any, type_name: str) -> bool:
    if type_name in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, INPUT_TYPES[type_name])


def content_hash(front: dict[str, Any], sections: list[Section], refs: dict[str, str] | None = None) -> str:
    """sha256 of the canonical JSON of the parsed front matter and the role sections (and of the
    sha256 of each file the front matter names, when it names any)."""
    payload = {"front": front, "body": [[s.role, s.template.strip()] for s in sections], **({"refs": refs} if refs else {})}
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def load_prompt(path: Path | str, *, root: Path | None = None) -> Prompt:
    """Read and parse a prompt file; ``root`` enables the check that the suite exists."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PromptFileError("file not found", where=str(path)) from None
    except UnicodeDecodeError:
        raise PromptFileError("not UTF-8 text", where=str(path)) from None
    source = str(path.relative_to(root)) if root and path.is_absolute() and path.is_relative_to(root) else str(path)
    return parse_prompt(text, source=source, root=root, expected_name=path.stem)


def parse_prompt(text: str, *, source: str = "<prompt>", root: Path | None = None,
                 expected_name: str | None = None, files: Any = None) -> Prompt:
    """Parse prompt text. Errors are :class:`PromptFileError` naming ``source:line``. ``files`` reads ``file://``
    references (at a git commit, say); default: the working tree under ``root``, or around ``source``."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise PromptFileError("missing front matter: the file must start with a '---' line",
                              where=f"{source}:1", hint="start with ---, the YAML keys, then --- and the body")
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise PromptFileError("front matter is not closed by a '---' line", where=f"{source}:1",
                              hint="add a line '---' after the YAML keys") from None
    front_text = "\n".join(lines[1:end])
    front, key_lines = _parse_front(front_text, source)
    body_first_line = end + 2  # 1-based line number of the first body line
    reader, named_in = _refs.reader(source, root, files)
    sections, body_refs = _refs.resolve_body(_parse_body(lines[end + 1:], body_first_line, source), body_first_line,
                                             named_in, source, reader, _parse_body)
    asserts, refs = _refs.resolve_asserts(front.get("assert"), named_in, f"{source}:{key_lines.get('assert', 2)}", reader)
    prompt = _build(front, key_lines, sections, source, expected_name, asserts)
    prompt.refs = refs = {**body_refs, **refs}
    prompt.suite = suite_path(prompt.suite, source, f"{source}:{key_lines.get('suite', 1)}")  # suite: file://…
    _check_templates(prompt, sections, source)
    if prompt.suite and (Path(prompt.suite).is_absolute() or ".." in Path(prompt.suite).parts or (
            root is not None and not (Path(root) / prompt.suite).resolve().is_relative_to(Path(root).resolve()))):
        raise PromptFileError(f"suite path '{prompt.suite}' leaves the repository",
                              where=f"{source}:{key_lines.get('suite', 1)}",
                              hint="give the suite as a path inside the project, e.g. suite: datasets/<name>")
    if root is not None and prompt.suite and not (Path(root) / prompt.suite).exists():
        raise PromptFileError(f"suite path '{prompt.suite}' does not exist", where=f"{source}:{key_lines.get('suite', 1)}",
                              hint="create the suite or fix the 'suite' path (relative to the project root)")
    prompt.fewshot = _fewshot.parse(front.get("fewshot"), f"{source}:{key_lines.get('fewshot', 2)}", root)
    prompt.hash = content_hash(front, sections, refs)
    return prompt


def _parse_front(front_text: str, source: str) -> tuple[dict[str, Any], dict[str, int]]:
    try:
        node = yamlsafe.compose(front_text)
        front = yamlsafe.load(front_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark else 2
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PromptFileError(f"invalid YAML in front matter: {problem}", where=f"{source}:{line}",
                              hint="fix the YAML syntax between the --- lines") from None
    if front is None:
        front = {}
    if not isinstance(front, dict):
        raise PromptFileError("front matter must be a YAML mapping of keys", where=f"{source}:2")
    key_lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            key_lines[str(key_node.value)] = key_node.start_mark.line + 2
    for key in front:
        if key not in FRONT_KEYS:
            raise PromptFileError(f"unknown key '{key}' in front matter", where=f"{source}:{key_lines.get(str(key), 2)}",
                                  hint=f"allowed keys: {', '.join(FRONT_KEYS)}")
    return front, key_lines


def _parse_body(lines: list[str], first_line: int, source: str) -> list[Section]:
    if not any(line.strip() for line in lines):
        raise PromptFileError("missing body: no messages after the front matter", where=f"{source}:{first_line}",
                              hint="add role sections, e.g. 'system:' and 'user:' lines followed by text")
    headers = [(i, m.group(1) if m else "messages") for i, line in enumerate(lines)
               if (m := _HEADER_RE.match(line)) or PLACEHOLDER_RE.match(line)]
    if not headers:
        return [Section("user", "\n".join(lines).strip("\n"), first_line)]
    for i, role in headers:
        if role not in ROLES and role != "messages":
            raise PromptFileError(f"unknown role '{role}'", where=f"{source}:{first_line + i}",
                                  hint="role sections are system:, user: and assistant: alone on a line")
    leading = [line for line in lines[: headers[0][0]] if line.strip()]
    if leading:
        raise PromptFileError("text before the first role section", where=f"{source}:{first_line}",
                              hint="put 'system:' or 'user:' on the line before it")
    sections = []
    for n, (i, role) in enumerate(headers):
        stop = headers[n + 1][0] if n + 1 < len(headers) else len(lines)
        content = "\n".join(lines[i + 1: stop])
        if role == "messages":
            if content.strip():
                raise PromptFileError(f"text after '{lines[i].strip()}'", where=f"{source}:{first_line + i + 1}",
                                      hint="the history line stands alone: put a role line (user:) before the text")
            sections.append(Section("messages", PLACEHOLDER_RE.match(lines[i]).group(1), first_line + i))
            continue
        if not content.strip():
            raise PromptFileError(f"empty '{role}' section", where=f"{source}:{first_line + i}",
                                  hint="write the message text under the role line, or remove it")
        sections.append(Section(role, content, first_line + i + 1))
    if sections[-1].role == "assistant":
        raise PromptFileError("the last section is 'assistant:'; the prompt must end with a user turn",
                              where=f"{source}:{sections[-1].line - 1}",
                              hint="few-shot turns go user, assistant, ..., then a final user section")
    return sections


def _num(front: dict, key: str, key_lines: dict, source: str) -> float | None:
    value = front.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise PromptFileError(f"'{key}' must be a number between 0 and 1, got {value!r}",
                              where=f"{source}:{key_lines.get(key, 2)}", hint=f"e.g. {key}: 0.8")
    return float(value)


def _build(front: dict, key_lines: dict, sections: list[Section], source: str, expected_name: str | None,
           asserts: Any = None) -> Prompt:
    def where(key: str) -> str:
        return f"{source}:{key_lines.get(key, 2)}"

    name = front.get("name", expected_name)
    if not name or not isinstance(name, str) or not NAME_RE.match(name):
        raise PromptFileError(f"invalid or missing name {name!r}", where=where("name"),
                              hint="use letters, digits, '-', '_' or '.'; the same as the file name")
    if expected_name and name != expected_name:
        raise PromptFileError(f"name '{name}' differs from the file name '{expected_name}.prompt'",
                              where=where("name"), hint=f"rename the file or set name: {expected_name}")
    for key in ("description", "model", "suite"):
        if key in front and not isinstance(front[key], str):
            raise PromptFileError(f"'{key}' must be a string", where=where(key))
    models = front.get("models", [])
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise PromptFileError("'models' must be a list of model names", where=where("models"))
    params = front.get("params", {}) or {}
    if not isinstance(params, dict):
        raise PromptFileError("'params' must be a mapping", where=where("params"), hint="e.g. params: {temperature: 0}")
    for key in params:
        if _is_endpoint_param(str(key)):
            raise PromptFileError(f"'params' may not set '{key}': endpoints and credentials come from "
                                  "promptops.yaml or the environment, never from a prompt file", where=where("params"),
                                  hint="configure the model under 'models:' in promptops.yaml (api_base, api_key_env)")
    inputs = _inputs(front.get("input", {}) or {}, where("input"))
    call, schema = call_settings(front, where)
    params = {**params, **call}
    asserts = (front.get("assert") if asserts is None else asserts) or []
    if isinstance(asserts, dict):
        asserts = [asserts]
    if not isinstance(asserts, list):
        raise PromptFileError("'assert' must be a list of assertions", where=where("assert"))
    if schema is not None and not any(isinstance(a, dict) and a.get("type") == "json-schema" for a in asserts):
        asserts = [*asserts, {"type": "json-schema", "value": schema}]  # structured output is checked by default
    for spec in asserts:
        _check_assertion(spec, where("assert"))
    labels = front.get("labels", []) or []
    if not isinstance(labels, list) or not all(isinstance(x, (str, int)) for x in labels):
        raise PromptFileError("'labels' must be a list of strings", where=where("labels"))
    escalate = front.get("escalate", {}) or {}
    if not isinstance(escalate, dict) or set(escalate) - {"window", "delta", "budget"}:
        raise PromptFileError("'escalate' takes only window, delta and budget", where=where("escalate"))
    window, delta = escalate.get("window"), escalate.get("delta")
    for key in ("window", "budget"):
        value = escalate.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise PromptFileError(f"'escalate.{key}' must be a whole number of versions ≥ 1, got {value!r}",
                                  where=where("escalate"), hint=f"e.g. escalate: {{{key}: 3}}")
    if delta is not None and (isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 <= delta <= 1):
        raise PromptFileError(f"'escalate.delta' must be a number between 0 and 1, got {delta!r}",
                              where=where("escalate"), hint="e.g. escalate: {delta: 0.02}")
    tags = front.get("tags", []) or []
    if not isinstance(tags, list):
        raise PromptFileError("'tags' must be a list", where=where("tags"))
    return Prompt(name=name, source=source, front=front, sections=sections,
                  description=front.get("description", ""), model=front.get("model"), models=models,
                  params=params, inputs=inputs, suite=front.get("suite"),
                  target=_num(front, "target", key_lines, source), min=_num(front, "min", key_lines, source),
                  asserts=asserts, labels=[str(x) for x in labels], escalate=escalate, tags=[str(t) for t in tags])


_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _inputs(raw: Any, where: str) -> dict[str, InputSpec]:
    if isinstance(raw, list):  # a plain list of names: all strings
        if not all(isinstance(k, str) for k in raw):
            raise PromptFileError("'input' as a list holds variable names only", where=where,
                                  hint="e.g. input: [text], or a mapping: input: {text: string}")
        raw = {k: "string" for k in raw}
    if not isinstance(raw, dict):
        raise PromptFileError("'input' must map variable names to types", where=where,
                              hint="e.g. input: {text: string}")
    out = {}
    for key, spec in raw.items():
        if not isinstance(key, str) or not _VAR_NAME_RE.match(key):
            raise PromptFileError(f"input name {key!r} is not a variable name", where=where,
                                  hint="use letters, digits and '_', starting with a letter or '_'")
        if isinstance(spec, str) or spec is None:
            spec = {"type": spec or "string"}
        if not isinstance(spec, dict) or set(spec) - {"type", "required", "default", "description"}:
            raise PromptFileError(f"input '{key}': give a type name or {{type, required, default, description}}",
                                  where=where)
        if not isinstance(spec.get("type", "string"), str):
            raise PromptFileError(f"input '{key}': the type must be a name", where=where,
                                  hint=f"types: {', '.join(INPUT_TYPES)}")
        type_name = _TYPE_ALIASES.get(spec.get("type", "string"), spec.get("type", "string"))
        if type_name not in INPUT_TYPES:
            raise PromptFileError(f"input '{key}': unknown type '{spec.get('type')}'", where=where,
                                  hint=f"types: {', '.join(INPUT_TYPES)}")
        out[str(key)] = InputSpec(type=type_name, required=bool(spec.get("required", True)),
                                  default=spec.get("default"), description=str(spec.get("description", "")))
    return out


def _check_assertion(spec: Any, where: str) -> None:
    try:
        validate_assertion(spec)
    except ValueError as exc:
        raise PromptFileError(f"bad assertion: {exc}", where=where,
                              hint="see the assertion list in the README") from None


def _check_templates(prompt: Prompt, sections: list[Section], source: str) -> None:
    from jinja2 import TemplateSyntaxError, meta

    env = environment()
    for section in sections:
        if section.role == "messages":
            spec = prompt.inputs.get(section.template)
            if spec is None or spec.type not in ("messages", "list", "any"):
                raise PromptFileError(f"'messages: {section.template}' needs '{section.template}' declared as messages",
                                      where=f"{section.origin or source}:{section.line}", hint=f"input: {{{section.template}: messages}}")
            continue
        try:
            ast = env.parse(section.template)
        except TemplateSyntaxError as exc:
            line = section.line + (exc.lineno or 1) - 1
            raise PromptFileError(f"template syntax error: {exc.message}", where=f"{section.origin or source}:{line}",
                                  hint="check the {{ }} and {% %} pairs") from None
        for var in sorted(meta.find_undeclared_variables(ast) - set(prompt.inputs)):
            offset = next((i for i, text in enumerate(section.template.split("\n")) if var in text), 0)
            raise PromptFileError(f"variable '{var}' is used but not declared in 'input'",
                                  where=f"{section.origin or source}:{section.line + offset}",
                                  hint=f"add '{var}: string' under input:")
