"""promptfoo's assertions and transforms, as promptops writes them (or why they are not imported).

Deterministic types map to the assertion of the same name (every one of
:data:`PROMPTFOO_DETERMINISTIC` is registered, or listed in :data:`NOT_IMPORTED` with the
reason); ``weight`` and ``threshold`` carry over, ``metric`` when this version grades named
metrics (else it becomes the assertion's description and the report says so). JavaScript
transforms of the common forms become Jinja2 expressions (``JSON.parse(output).a`` →
``(output | fromjson).a``, ``output.trim()``, ``.toLowerCase()``, ``.toUpperCase()``); any other
transform is not imported. Nunjucks placeholders of test variables in values (``{{ name }}``)
become ``{{ vars.name }}``.
"""

from __future__ import annotations

import re
from typing import Any

from ..assertions import assertion_types
from ..assertions.grading import COMMON_KEYS
from ..suite_shapes import cell_spec

#: promptfoo's deterministic assertion types (docs: configuration/expected-outputs/deterministic)
PROMPTFOO_DETERMINISTIC = (
    "assert-set", "classifier", "contains", "contains-all", "contains-any", "contains-json", "contains-html",
    "contains-sql", "contains-xml", "cost", "equals", "f-score", "finish-reason", "icontains", "icontains-all",
    "icontains-any", "is-html", "is-json", "is-sql", "is-valid-function-call", "is-valid-openai-function-call",
    "is-valid-openai-tools-call", "tool-call-f1", "is-xml", "javascript", "latency", "levenshtein",
    "perplexity-score", "perplexity", "python", "regex", "rouge-n", "bleu", "gleu", "meteor", "starts-with",
    "trace-span-count", "trace-span-duration", "trace-error-spans", "webhook", "word-count", "is-refusal",
    "guardrails",
)
MODEL_GRADED = ("llm-rubric", "g-eval", "model-graded-closedqa", "factuality", "answer-relevance", "similar",
                "context-faithfulness", "context-recall", "context-relevance", "conversation-relevance",
                "search-rubric", "pi", "moderation", "select-best", "max-score")

NOT_IMPORTED: dict[str, str] = {
    "assert-set": "groups of assertions with their own threshold are not supported",
    "classifier": "runs a HuggingFace classifier model",
    "f-score": "computed from other named metrics after the run",
    "javascript": "JavaScript code (rewrite it as a python assertion: 'file.py:function')",
    "python": "promptfoo's inline Python has another signature (rewrite as 'file.py:function')",
    "perplexity": "needs token log-probabilities, which promptops does not capture",
    "perplexity-score": "needs token log-probabilities, which promptops does not capture",
    "meteor": "needs WordNet (use rouge-n, bleu or gleu)",
    "trace-span-count": "needs OpenTelemetry traces",
    "trace-span-duration": "needs OpenTelemetry traces",
    "trace-error-spans": "needs OpenTelemetry traces",
    "webhook": "calls an external URL",
    "guardrails": "reads provider guardrail results",
    "levenshtein": "promptfoo's threshold is an edit distance, promptops's a similarity: rewrite it by hand",
    **{name: "model-graded (needs a judge model; add llm-rubric by hand with a judge in promptops.yaml)"
       for name in MODEL_GRADED},
}
_VAR = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_JS_TRANSFORMS = [
    (re.compile(r"^JSON\.parse\(output\)((?:\.[A-Za-z_]\w*|\[\d+\]|\[['\"][^'\"]+['\"]\])*)$"),
     lambda m: f"(output | fromjson){m.group(1)}" if m.group(1) else "output | fromjson"),
    (re.compile(r"^output\.trim\(\)$"), lambda m: "output | trim"),
    (re.compile(r"^output\.toLowerCase\(\)$"), lambda m: "output | lower"),
    (re.compile(r"^output\.toUpperCase\(\)$"), lambda m: "output | upper"),
    (re.compile(r"^output\.trim\(\)\.toLowerCase\(\)$"), lambda m: "output | trim | lower"),
]


def js_transform(code: Any) -> str | None:
    """The Jinja2 expression for a promptfoo (JavaScript) transform; None when it has no equivalent."""
    if not isinstance(code, str):
        return None
    text = code.strip().rstrip(";").strip()
    text = re.sub(r"^return\s+", "", text)
    for pattern, make in _JS_TRANSFORMS:
        m = pattern.match(text)
        if m:
            return make(m)
    return None


def template_vars(value: Any, names: set[str]) -> Any:
    """``{{ name }}`` of a test variable → ``{{ vars.name }}``, in strings and inside lists/mappings."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: f"{{{{ vars.{m.group(1)} }}}}" if m.group(1) in names else m.group(0), value)
    if isinstance(value, list):
        return [template_vars(v, names) for v in value]
    if isinstance(value, dict):
        return {k: template_vars(v, names) for k, v in value.items()}
    return value


def convert(spec: Any, var_names: set[str]) -> tuple[dict[str, Any] | None, list[str]]:
    """(the native assertion or None, notes for the report)."""
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        return None, [f"not an assertion: {spec!r}"[:120]]
    name = spec["type"]
    base = name[4:] if name.startswith("not-") else name
    if base in NOT_IMPORTED:
        return None, [f"{name}: {NOT_IMPORTED[base]}"]
    if name not in assertion_types():
        return None, [f"{name}: unknown assertion type"]
    out: dict[str, Any] = {"type": name}
    notes: list[str] = []
    if "value" in spec:
        value = spec["value"]
        if isinstance(value, str) and value.startswith("file://"):
            return None, [f"{name}: a file:// value (inline it, or use a python assertion)"]
        out["value"] = template_vars(value, var_names)
    for key in ("weight", "threshold"):
        if key in spec:
            out[key] = spec[key]
    if "metric" in spec:
        if "metric" in COMMON_KEYS:
            out["metric"] = spec["metric"]
        else:
            out["description"] = f"metric: {spec['metric']}"
            notes.append(f"{name}: metric '{spec['metric']}' kept as its description (no named metrics here)")
    if spec.get("description") and "description" not in out:
        out["description"] = str(spec["description"])
    if "transform" in spec:
        expression = js_transform(spec["transform"])
        if expression is None:
            return None, [f"{name}: JavaScript transform {str(spec['transform'])[:60]!r} has no Jinja2 equivalent"]
        out["transform"] = expression
    for key in sorted(set(spec) - {"type", "value", "weight", "threshold", "metric", "description", "transform"}):
        notes.append(f"{name}: key '{key}' not imported")
    return out, notes


_CSV_ALIASES = {"fn": "javascript", "eval": "javascript", "grade": "llm-rubric"}


def from_csv_cell(text: str) -> dict[str, Any]:
    """promptfoo's ``__expected`` cell: ``type:value``, ``type(threshold):value``, else equals."""
    known = (lambda negate, kind: kind in PROMPTFOO_DETERMINISTIC or kind in MODEL_GRADED)
    return cell_spec(text, known, _CSV_ALIASES) or {"type": "equals", "value": text}
