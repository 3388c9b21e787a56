"""Assertion registry: every type passes and fails as documented, in plain and ``not-`` form."""

from __future__ import annotations

import asyncio
import json
import re
import types
from collections import Counter
from pathlib import Path

import pytest

from promptops.assertions import (AssertionType, Family, GradeContext, GradeResult, assertion_types, case_specs,
                                  expected_assertion, grade, register, registry, unregister, validate_assertion)
from promptops.assertions.semantic import parse_judge_reply

CHECKS_PY = '''
def is_upper(output, context):
    return output.isupper()

def length_score(output, context):
    return min(1.0, len(output) / 10)

def verdict(output, context):
    ok = output == context["vars"]["word"]
    return {"pass": ok, "score": 1.0 if ok else 0.25, "reason": "word check"}

def boom(output, context):
    raise RuntimeError("user code broke")

async def async_check(output, context):
    return "ok" in output

def bad_return(output, context):
    return "yes"
'''


def fake_embed(texts: list[str]) -> list[list[float]]:
    """Bag-of-words vectors over the words of all texts: enough to tell near from far."""
    bags = [Counter(re.findall(r"\w+", t.lower())) for t in texts]
    vocab = sorted(set().union(*bags))
    return [[float(bag[w]) for w in vocab] for bag in bags]


JUDGE_CALLS: list[tuple[str, list[dict]]] = []


def fake_judge(model: str, messages: list[dict]) -> str:
    """Passes when the output names the word after 'mentions' in the rubric."""
    JUDGE_CALLS.append((model, messages))
    text = messages[-1]["content"]
    rubric = text.split("<rubric>")[1].split("</rubric>")[0]
    output = text.split("<output>")[1].split("</output>")[0]
    word = rubric.split("mentions")[-1].strip()
    ok = word.lower() in output.lower()
    return f'Sure! ```json\n{{"pass": {json.dumps(ok)}, "score": {0.9 if ok else 0.2}, "reason": "looked for {word}"}}\n```'


@pytest.fixture
def ctx(tmp_path: Path) -> GradeContext:
    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "checks.py").write_text(CHECKS_PY)
    return GradeContext(root=tmp_path, config=types.SimpleNamespace(default_model="judge-model"),
                        judge=fake_judge, embed=fake_embed)


SCHEMA = {"type": "object", "properties": {"label": {"enum": ["pos", "neg"]}}, "required": ["label"]}
# (spec, output, extra grade kwargs, passes). Each type has at least one passing and one failing row.
ROWS = [
    ({"type": "equals", "value": "Paris"}, "  Paris\n", {}, True),
    ({"type": "equals", "value": "Paris"}, "paris", {}, False),
    ({"type": "equals", "value": 42}, "42", {}, True),
    ({"type": "equals", "value": {"a": 1}}, '{"a": 1}', {}, True),
    ({"type": "equals", "value": {"a": 1}}, '{"a": 2}', {}, False),
    ({"type": "iequals", "value": "Positive"}, " positive ", {}, True),
    ({"type": "iequals", "value": "Positive"}, "negative", {}, False),
    ({"type": "contains", "value": "cat"}, "the cat sat", {}, True),
    ({"type": "contains", "value": "Cat"}, "the cat sat", {}, False),
    ({"type": "icontains", "value": "CAT"}, "the cat sat", {}, True),
    ({"type": "icontains", "value": "dog"}, "the cat sat", {}, False),
    ({"type": "contains-any", "value": ["dog", "cat"]}, "the cat sat", {}, True),
    ({"type": "contains-any", "value": "dog, cow"}, "the cat sat", {}, False),
    ({"type": "contains-all", "value": ["the", "cat"]}, "the cat sat", {}, True),
    ({"type": "contains-all", "value": ["the", "dog"]}, "the cat sat", {}, False),
    ({"type": "starts-with", "value": "Answer:"}, "\nAnswer: 4", {}, True),
    ({"type": "starts-with", "value": "Answer:"}, "The answer: 4", {}, False),
    ({"type": "regex", "value": r"^\d{3}-\d{4}$"}, "555-1234", {}, True),
    ({"type": "regex", "value": r"^\d{3}-\d{4}$"}, "call 555-1234", {}, False),
    ({"type": "levenshtein", "value": "kitten"}, "kitten", {}, True),
    ({"type": "levenshtein", "value": "kitten", "threshold": 0.5}, "sitting", {}, True),  # 1 - 3/7
    ({"type": "levenshtein", "value": "kitten"}, "sitting", {}, False),
    ({"type": "is-json"}, '{"a": [1, 2]}', {}, True),
    ({"type": "is-json"}, "{'a': 1}", {}, False),
    ({"type": "is-json", "value": SCHEMA}, '{"label": "maybe"}', {}, False),
    ({"type": "contains-json"}, 'Here: ```json\n{"label": "pos"}\n```', {}, True),
    ({"type": "contains-json", "value": SCHEMA}, 'Here: {"label": "pos"} done', {}, True),
    ({"type": "contains-json"}, "no json here {oops", {}, False),
    ({"type": "json-schema", "value": SCHEMA}, '{"label": "neg"}', {}, True),
    ({"type": "json-schema", "value": json.dumps(SCHEMA)}, '{"label": "neg"}', {}, True),
    ({"type": "json-schema", "value": SCHEMA}, '{"label": 3}', {}, False),
    ({"type": "json-schema", "value": SCHEMA}, "not json", {}, False),
    ({"type": "similar", "value": "the cat sat on the mat"}, "the cat sat on a mat", {}, True),
    ({"type": "similar", "value": ["stock prices", "the cat sat on the mat"]}, "the cat sat on the mat", {}, True),
    ({"type": "similar", "value": "the cat sat on the mat"}, "stock markets fell sharply", {}, False),
    ({"type": "llm-rubric", "value": "mentions Paris"}, "It is Paris.", {}, True),
    ({"type": "llm-rubric", "value": "mentions Paris"}, "It is Lyon.", {}, False),
    ({"type": "llm-rubric", "value": "mentions Paris", "threshold": 0.95}, "It is Paris.", {}, False),
    ({"type": "python", "value": "checks/checks.py:is_upper"}, "LOUD", {}, True),
    ({"type": "python", "value": "checks/checks.py:is_upper"}, "quiet", {}, False),
    ({"type": "python", "value": "checks/checks.py:length_score", "threshold": 0.5}, "12345678", {}, True),
    ({"type": "python", "value": "checks/checks.py:length_score", "threshold": 0.5}, "123", {}, False),
    ({"type": "python", "value": "checks/checks.py:verdict"}, "hi", {"vars": {"word": "hi"}}, True),
    ({"type": "python", "value": "checks/checks.py:verdict"}, "ho", {"vars": {"word": "hi"}}, False),
    ({"type": "python", "value": "checks/checks.py:async_check"}, "ok then", {}, True),
    ({"type": "latency", "value": 500}, "x", {"latency_ms": 120.0}, True),
    ({"type": "latency", "threshold": 100}, "x", {"latency_ms": 120.0}, False),
    ({"type": "cost", "value": 0.01}, "x", {"cost_usd": 0.002}, True),
    ({"type": "cost", "value": 0.001}, "x", {"cost_usd": 0.002}, False),
]


def _id(row) -> str:
    spec, output, _, passes = row
    return f"{spec['type']}-{'pass' if passes else 'fail'}-{output[:12]}"


@pytest.mark.parametrize("row", ROWS, ids=[_id(r) for r in ROWS])
async def test_assertion_row(row, ctx):
    spec, output, kwargs, passes = row
    validate_assertion(spec)
    result = await grade([spec], output, ctx=ctx, **kwargs)
    assert result.passed is passes, result.reason
    component = result.components[0]
    assert not component["error"], component
    assert component["reason"].startswith(spec["type"] + ":")
    assert 0.0 <= result.score <= 1.0


@pytest.mark.parametrize("row", ROWS, ids=[_id(r) for r in ROWS])
async def test_not_form_inverts(row, ctx):
    spec, output, kwargs, passes = row
    negated = {**spec, "type": "not-" + spec["type"]}
    validate_assertion(negated)
    plain = await grade([spec], output, ctx=ctx, **kwargs)
    result = await grade([negated], output, ctx=ctx, **kwargs)
    assert result.passed is (not passes), result.reason
    assert result.score == pytest.approx(1.0 - plain.score)


def test_registry_has_no_gaps():
    types_ = registry()
    covered_pass = {spec["type"] for spec, _, _, ok in ROWS if ok}
    covered_fail = {spec["type"] for spec, _, _, ok in ROWS if not ok}
    for name, atype in types_.items():
        if atype.family in ("words", "markup", "overlap", "fields", "tools"):
            continue  # their rows are in tests/test_assertions_more.py and tests/test_tools.py
        assert isinstance(atype, AssertionType) and atype.name == name
        assert callable(atype.handler), name
        assert atype.description and atype.family, name
        assert atype.value in ("any", "string", "number", "strings", "schema", "path", "none"), name
        assert atype.threshold in ("score", "limit", "none"), name
        assert name in covered_pass, f"{name} has no passing row"
        assert name in covered_fail, f"{name} has no failing row"
        assert "not-" + name in assertion_types()
    assert set(types_) >= {"equals", "iequals", "contains", "icontains", "contains-any", "contains-all",
                           "starts-with", "regex", "levenshtein", "is-json", "contains-json", "json-schema",
                           "similar", "llm-rubric", "python", "latency", "cost"}


async def test_errors_fail_in_both_forms(ctx):
    for spec, kwargs in [({"type": "python", "value": "checks/checks.py:boom"}, {}),
                         ({"type": "python", "value": "checks/checks.py:bad_return"}, {}),
                         ({"type": "python", "value": "checks/missing.py:f"}, {}),
                         ({"type": "python", "value": "checks/checks.py:nope"}, {}),
                         ({"type": "python", "value": "../outside.py:f"}, {}),
                         ({"type": "latency", "value": 100}, {}),
                         ({"type": "cost", "value": 1}, {}),
                         ({"type": "equals", "value": "{{ expected }}"}, {})]:
        for form in (spec, {**spec, "type": "not-" + spec["type"]}):
            result = await grade([form], "OUT", ctx=ctx, **kwargs)
            assert not result.passed, form
            assert result.components[0]["error"], form
            assert "error:" in result.reason


async def test_python_error_reason_names_the_cause(ctx):
    result = await grade([{"type": "python", "value": "checks/checks.py:boom"}], "x", ctx=ctx)
    assert "RuntimeError: user code broke" in result.reason and "line" in result.reason


async def test_python_syntax_error_in_user_file(tmp_path):
    (tmp_path / "bad.py").write_text("def f(output, context):\n    return (\n")
    result = await grade([{"type": "python", "value": "bad.py:f"}], "x", ctx=GradeContext(root=tmp_path))
    assert not result.passed and "failed to load" in result.reason and "SyntaxError" in result.reason


async def test_python_gets_context_and_default_function(tmp_path):
    (tmp_path / "a.py").write_text(
        "def get_assert(output, context):\n"
        "    return {'pass': context['expected'] == output and context['vars']['x'] == 1, 'reason': 'seen'}\n")
    result = await grade([{"type": "python", "value": "a.py"}], "yes", expected="yes", vars={"x": 1},
                         ctx=GradeContext(root=tmp_path))
    assert result.passed and "seen" in result.reason


async def test_no_output_and_no_assertions():
    result = await grade([{"type": "contains", "value": "a"}], None)
    assert not result.passed and result.reason == "no output" and result.score == 0.0
    result = await grade([], "anything")
    assert result.passed and result.score == 1.0


async def test_weights_and_weighted_score():
    specs = [{"type": "contains", "value": "a", "weight": 3}, {"type": "contains", "value": "z", "weight": 1}]
    result = await grade(specs, "abc")
    assert result.score == pytest.approx(0.75)
    assert not result.passed and "contains: output does not contain 'z'" in result.reason
    # a zero-weight assertion is reported but does not decide the case
    specs = [{"type": "contains", "value": "a"}, {"type": "contains", "value": "z", "weight": 0}]
    result = await grade(specs, "abc")
    assert result.passed and result.score == 1.0
    assert [c["passed"] for c in result.components] == [True, False]


async def test_case_threshold():
    specs = [{"type": "contains", "value": v} for v in ("a", "b", "c", "z")]
    assert (await grade(specs, "abc", case_threshold=0.75)).passed
    failed = await grade(specs, "abc", case_threshold=0.8)
    assert not failed.passed and "case threshold 0.8" in failed.reason


async def test_assertion_threshold_on_levenshtein_boundary():
    # "abcde" vs "abcdx": distance 1, similarity 1 - 1/5 = 0.8 exactly; meets 0.8
    assert (await grade([{"type": "levenshtein", "value": "abcdx", "threshold": 0.8}], "abcde")).passed
    assert not (await grade([{"type": "levenshtein", "value": "abcdx", "threshold": 0.81}], "abcde")).passed


async def test_substitution():
    result = await grade([{"type": "equals", "value": "{{expected}}"}], "pos", expected="pos")
    assert result.passed
    result = await grade([{"type": "contains", "value": "city: {{ vars.city }}!"}], "city: Oslo!", vars={"city": "Oslo"})
    assert result.passed
    # a whole-string placeholder keeps the value's type: a list stays a list
    result = await grade([{"type": "contains-any", "value": "{{ expected }}"}], "I say maybe", expected=["yes", "maybe"])
    assert result.passed
    result = await grade([{"type": "contains-all", "value": ["{{ vars.a }}", "{{ vars.b }}"]}], "x y",
                         vars={"a": "x", "b": "y"})
    assert result.passed
    result = await grade([{"type": "contains", "value": "{{ vars.missing }}"}], "x", vars={})
    assert not result.passed and "no variable 'missing'" in result.reason
    # a substituted value is checked like a literal one
    result = await grade([{"type": "regex", "value": "{{ expected }}"}], "x", expected="(")
    assert not result.passed and "bad regex" in result.reason


@pytest.mark.parametrize("spec, message", [
    ("contains", "is a mapping"),
    ({"value": "x"}, "without a 'type'"),
    ({"type": "contians", "value": "x"}, "did you mean 'contains'"),
    ({"type": "not-contians", "value": "x"}, "did you mean 'not-contains'"),
    ({"type": "no-such-thing-at-all"}, "known types"),
    ({"type": "contains"}, "needs a value"),
    ({"type": "python"}, "needs a value"),
    ({"type": "regex", "value": "(unclosed"}, "bad regex"),
    ({"type": "contains", "value": "x", "weight": -1}, "weight"),
    ({"type": "contains", "value": "x", "weight": "heavy"}, "weight"),
    ({"type": "contains", "value": "x", "threshold": 0.5}, "takes no threshold"),
    ({"type": "similar", "value": "x", "threshold": 1.5}, "between 0 and 1"),
    ({"type": "levenshtein", "value": "x", "threshold": "high"}, "between 0 and 1"),
    ({"type": "json-schema", "value": {"type": "objekt"}}, "bad JSON schema"),
    ({"type": "json-schema", "value": "{not json"}, "not valid JSON"),
    ({"type": "json-schema", "value": ["a"]}, "JSON schema"),
    ({"type": "latency"}, "needs a limit"),
    ({"type": "latency", "value": 1, "threshold": 2}, "not both"),
    ({"type": "latency", "value": "fast"}, "number"),
    ({"type": "contains-any", "value": []}, "non-empty list"),
    ({"type": "python", "value": "checks.txt:f"}, "path/to/file.py:function_name"),
    ({"type": "python", "value": "checks.py:not-a-name"}, "path/to/file.py:function_name"),
    ({"type": "contains", "value": "x", "provider": "gpt"}, "does not take key(s) provider"),
])
def test_validation_errors(spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        validate_assertion(spec)


def test_validation_accepts_placeholders_and_judge_keys():
    validate_assertion({"type": "regex", "value": "{{ expected }}"})
    validate_assertion({"type": "llm-rubric", "value": "is polite", "provider": "openai/gpt-4o-mini", "threshold": 0.7})
    validate_assertion({"type": "is-json"})
    validate_assertion({"type": "python", "value": "a/b.py", "weight": 0})


def test_case_specs_and_expected_shorthand():
    uses = {"type": "iequals", "value": "{{ expected }}"}
    other = {"type": "latency", "value": 1000}
    # no prompt defaults: equals on expected
    assert case_specs([], [], "pos") == [{"type": "equals", "value": "{{ expected }}"}]
    assert expected_assertion([], "pos") == [{"type": "equals", "value": "{{ expected }}"}]
    assert expected_assertion([uses, other], "pos") == [uses]
    assert expected_assertion([uses], None) == []
    # defaults that use expected apply only when the case has one; others always
    assert case_specs([uses, other], [], "pos") == [uses, other]
    assert case_specs([uses, other], [], None) == [other]
    # the documented rule: the prompt's defaults apply to cases without their own; equals on
    # expected only when neither exists
    assert case_specs([other], [], "pos") == [other]
    own = {"type": "contains", "value": "x"}
    assert case_specs([other], [own], None) == [own]
    assert case_specs([other], [own], "pos") == [own]  # the 0/20: no equals appended
    assert case_specs([], [own, uses], "pos") == [own, uses]
    assert case_specs([uses], [], None) == []


async def test_llm_rubric_judge_model_and_parsing(ctx):
    JUDGE_CALLS.clear()
    await grade([{"type": "llm-rubric", "value": "mentions Oslo", "provider": "openai/judge"}], "Oslo", ctx=ctx)
    await grade([{"type": "llm-rubric", "value": "mentions Oslo"}], "Oslo", ctx=ctx)
    assert [model for model, _ in JUDGE_CALLS] == ["openai/judge", "judge-model"]
    assert parse_judge_reply('{"pass": "yes", "score": 8, "reason": "fine"}') == GradeResult(True, 0.8, "fine")
    assert parse_judge_reply('{"score": 0.3}').passed is False
    assert parse_judge_reply("PASS - looks right").passed is True
    with pytest.raises(Exception, match="not understood"):
        parse_judge_reply("I cannot decide")


async def test_llm_rubric_through_providers_complete(monkeypatch):
    seen = {}

    class Completion:
        text = '{"pass": false, "score": 0.1, "reason": "rude"}'

    async def complete(model, messages, params, *, config):
        seen.update(model=model, params=params, config=config)
        return Completion()

    monkeypatch.setattr("promptops.providers.complete", complete)  # the judge calls the one call path
    config = types.SimpleNamespace(default_model="local/smollm2")
    result = await grade([{"type": "llm-rubric", "value": "is polite"}], "go away",
                         ctx=GradeContext(root=Path("."), config=config))
    assert not result.passed and "rude" in result.reason
    assert seen == {"model": "local/smollm2", "params": {"temperature": 0}, "config": config}


async def test_llm_rubric_without_a_judge_model_fails_cleanly():
    result = await grade([{"type": "llm-rubric", "value": "x"}], "y", ctx=GradeContext(judge=fake_judge))
    assert not result.passed and "no judge model" in result.reason


async def test_unexpected_handler_exception_is_contained():
    family = Family("test")

    @family.assertion("explodes", "always raises", value="none", value_required=False)
    def explodes(output, value, check):
        raise ZeroDivisionError("bug")

    register(family)
    try:
        assert "explodes" in registry() and "not-explodes" in assertion_types()
        result = await grade([{"type": "explodes"}, {"type": "contains", "value": "a"}], "a")
        assert not result.passed and "ZeroDivisionError: bug" in result.reason
        with pytest.raises(ValueError, match="takes no value"):
            validate_assertion({"type": "explodes", "value": 1})
        with pytest.raises(ValueError, match="already registered"):
            register(family.types[0].__class__(**{**family.types[0].__dict__, "handler": lambda *a: None}))
    finally:
        unregister("explodes")
    assert "explodes" not in assertion_types()


def test_assertions_run_concurrently(ctx):
    async def slow_judge(model, messages):
        await asyncio.sleep(0.2)
        return '{"pass": true, "score": 1, "reason": "ok"}'

    slow = GradeContext(root=ctx.root, config=ctx.config, judge=slow_judge)
    specs = [{"type": "llm-rubric", "value": f"rubric {i}"} for i in range(10)]
    import time

    start = time.perf_counter()
    result = asyncio.run(grade(specs, "x", ctx=slow))
    assert result.passed and time.perf_counter() - start < 1.0


@pytest.mark.slow
async def test_similar_with_the_bundled_embedding_model(tmp_path):
    ctx = GradeContext(root=tmp_path)
    spec = {"type": "similar", "value": "The cat sat on the mat"}
    near = await grade([spec], "A cat is sitting on a mat", ctx=ctx)
    far = await grade([spec], "Stock markets fell sharply today", ctx=ctx)
    assert near.passed and near.score > 0.85
    assert not far.passed and far.score < 0.3
    assert (await grade([{**spec, "type": "not-similar"}], "Stock markets fell sharply today", ctx=ctx)).passed
