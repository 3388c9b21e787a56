"""A mutation fuzzer of prompt files, suites and ``promptops.yaml`` (issue "Reliability and security",
item 7): whatever the text, parsing (and rendering a prompt that parses) either works or raises a
:class:`PromptopsError`, the one-line error the CLI prints. Any other exception is a traceback.

Bounded: a fixed number of derandomized examples per target (``MAX_EXAMPLES``), no deadline, so
the module takes seconds to tens of seconds. ``PROMPTOPS_FUZZ_EXAMPLES=5000`` runs a longer search.
``CASES`` counts the examples run (``pytest -s`` prints the totals)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from promptops.errors import PromptopsError

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

MAX_EXAMPLES = int(os.environ.get("PROMPTOPS_FUZZ_EXAMPLES", "250"))
CASES: Counter[str] = Counter()
TRACEBACKS: list[str] = []

PROMPT = """---
name: p
description: A prompt.
model: gpt-x
models: [a, b]
params: {temperature: 0, max_tokens: 10}
input: {text: string, n: integer, tags: {type: array, items: string}}
suite: datasets/p
target: 0.8
labels: [yes, no]
escalate: {window: 3, delta: 0.02}
assert:
  - type: icontains
    value: "{{ expected }}"
  - {type: regex, value: "^a"}
---
system:
Be brief. {% if n > 1 %}Many{% endif %}
user:
{{ text }} {% for t in tags %}{{ t }},{% endfor %}
"""
SUITES = {
    "cases.jsonl": '{"vars": {"text": "a", "n": 1, "tags": ["x"]}, "expected": "yes"}\n'
                   '{"vars": {"text": "b", "n": 2, "tags": []}, "expected": "no", "assert": [{"type": "equals", '
                   '"value": "no"}]}\n',
    "cases.yaml": "cases:\n  - vars: {text: a, n: 1, tags: [x]}\n    expected: yes\n  - vars: {text: b, n: 2}\n",
    "cases.csv": "text,n,__expected\na,1,yes\n\"b, c\",2,no\n",
}
CONFIG = """default_model: gpt-x
concurrency: 8
max_retries: 2
models:
  gpt-x: {model: openai/gpt-4o-mini, api_key_env: OPENAI_API_KEY, concurrency: 4}
environments:
  production: {min_score: 0.8}
ci: {fail_on: [regression, below-min], max_drop: 0.05}
server: {require_auth: true}
"""
# what a mutation inserts: YAML and Jinja2 syntax, odd characters, big or deep values
TOKENS = ["---", "\n", ": ", "- ", "{", "}", "[", "]", "&a ", "*a", "!!python/object ", "!!binary ", "'", '"', "#",
          "{{", "}}", "{%", "%}", "{% for x in range(3) %}", "{% endfor %}", "|", ">", "\t", "\r", "\x00", "\ufeff",
          "\ud800", "\u202e", "null", "~", "true", "1e400", "-0", "0x1F", ".inf", "9" * 40, "[" * 300, "]" * 300,
          "?", "<<: ", "%YAML 1.1\n", "\\", "\\u", "é", "💥", "name: q", "input:", "type: ", "model: ", "params:",
          "suite: ", "../", "/etc/passwd", "vars:", "expected:", "assert:", ",", "__expected", "=", "\"\"\""]
# a 5,000-digit number and a 128 KiB CSV cell (each also a test of its own below)
BIG = ["9" * 5000, "x" * 140_000]


def mutated(text: str, tokens: list[str]) -> st.SearchStrategy[str]:
    """``text`` with a few random edits: insert a token, delete a span, duplicate a span."""
    edit = st.tuples(st.sampled_from(["insert", "delete", "copy"]), st.integers(0, len(text)), st.integers(0, 40),
                     st.sampled_from(tokens) | st.text(max_size=5))

    def apply(edits: list[tuple[str, int, int, str]]) -> str:
        out = text
        for kind, at, size, token in edits:
            at = min(at, len(out))
            if kind == "insert":
                out = out[:at] + token + out[at:]
            elif kind == "delete":
                out = out[:at] + out[at + size:]
            else:
                out = out[:at] + out[at:at + size] * 2 + out[at + size:]
        return out

    return st.lists(edit, min_size=1, max_size=6).map(apply)


SETTINGS = hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                               suppress_health_check=list(hypothesis.HealthCheck),
                               phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])


def _no_traceback(kind: str, action, text: str) -> None:
    CASES[kind] += 1
    try:
        action()
    except PromptopsError:
        pass
    except RecursionError:
        TRACEBACKS.append(kind)
        raise
    except Exception:
        TRACEBACKS.append(kind)
        raise


@SETTINGS
@hypothesis.given(text=mutated(PROMPT, TOKENS + BIG))
def test_fuzzed_prompt_files_parse_or_fail_in_one_line(text: str) -> None:
    from promptops.prompts import parse_prompt

    def action() -> None:
        prompt = parse_prompt(text, source="prompts/p.prompt", root=Path("/nonexistent-root"), expected_name=None)
        prompt.render({"text": "a", "n": 2, "tags": ["x", "y"]})

    _no_traceback("prompt", action, text)


@pytest.mark.parametrize("name", sorted(SUITES))
def test_fuzzed_suites_parse_or_fail_in_one_line(name: str) -> None:
    from promptops.suites import parse_suite_texts

    @SETTINGS
    @hypothesis.given(text=mutated(SUITES[name], TOKENS + BIG))
    def run(text: str) -> None:
        _no_traceback(f"suite:{name}", lambda: parse_suite_texts([(f"datasets/p/{name}", text)]), text)

    run()


def test_fuzzed_config_loads_or_fails_in_one_line(tmp_path_factory) -> None:
    from promptops.config import load_config

    root = tmp_path_factory.mktemp("fuzzcfg")

    @SETTINGS
    @hypothesis.given(text=mutated(CONFIG, TOKENS + BIG))
    def run(text: str) -> None:
        def action() -> None:
            (root / "promptops.yaml").write_bytes(text.encode("utf-8", "surrogatepass"))
            load_config(root)

        _no_traceback("config", action, text)

    run()


def test_the_fuzzer_ran_and_found_no_traceback() -> None:
    """Runs last in this module: the figures of the closing note (``pytest -s`` shows them)."""
    if not CASES:
        pytest.skip("run with the fuzz tests above")
    print(f"\nfuzz cases: {dict(CASES)} total={sum(CASES.values())} tracebacks={len(TRACEBACKS)}")
    assert not TRACEBACKS


def test_a_5000_digit_number_in_a_jsonl_suite_is_a_one_line_error() -> None:
    from promptops.errors import SuiteError
    from promptops.suites import parse_suite_texts

    with pytest.raises(SuiteError) as info:
        parse_suite_texts([("datasets/p/cases.jsonl", '{"vars": {"n": ' + "9" * 5000 + "}}\n")])
    assert info.value.where == "datasets/p/cases.jsonl:1"


def test_a_csv_cell_over_128_kib_is_read_or_a_one_line_error() -> None:
    from promptops.errors import SuiteError
    from promptops.suites import parse_suite_texts

    text = "text,__expected\n" + "x" * 140_000 + ",yes\n"
    try:
        cases = parse_suite_texts([("datasets/p/cases.csv", text)])
    except SuiteError as exc:
        assert exc.where == "datasets/p/cases.csv:2"
    else:
        assert len(cases[0].vars["text"]) == 140_000
