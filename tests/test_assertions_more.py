"""The assertion families added for promptfoo's deterministic types (words, markup, overlap,
fields, tools), output transforms, and the registry's coverage of promptfoo's list."""

from __future__ import annotations

import pytest

from promptops.assertions import GradeContext, assertion_types, grade, registry, validate_assertion
from promptops.assertions.overlap import bleu, gleu, rouge_n
from promptops.importers.promptfoo_asserts import PROMPTFOO_DETERMINISTIC, NOT_IMPORTED

WEATHER = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"]}}}]


def calls(*pairs: tuple[str, str]) -> list[dict]:
    return [{"id": f"c{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(pairs)]


PARIS = calls(("get_weather", '{"city": "Paris", "days": 3}'))
# (spec, output, grade kwargs, context fields, passes)
ROWS = [
    ({"type": "icontains-any", "value": ["CAT", "dog"]}, "a Cat sat", {}, {}, True),
    ({"type": "icontains-any", "value": "cat, dog"}, "a bird", {}, {}, False),
    ({"type": "icontains-all", "value": ["CAT", "mat"]}, "the cat on the Mat", {}, {}, True),
    ({"type": "icontains-all", "value": ["cat", "hat"]}, "the cat on the mat", {}, {}, False),
    ({"type": "word-count", "value": 3}, "one two three", {}, {}, True),
    ({"type": "word-count", "value": {"min": 1, "max": 2}}, "one two three", {}, {}, False),
    ({"type": "is-refusal"}, "I'm sorry, but I can't help with that.", {}, {}, True),
    ({"type": "is-refusal"}, "The capital of France is Paris.", {}, {}, False),
    ({"type": "is-xml", "value": ["b", "a.b"]}, "<a><b>1</b></a>", {}, {}, True),
    ({"type": "is-xml"}, "<a><b>1</a>", {}, {}, False),
    ({"type": "contains-xml", "value": "item"}, "Here: <list><item>x</item></list> done", {}, {}, True),
    ({"type": "contains-xml"}, "no markup < here >", {}, {}, False),
    ({"type": "is-html"}, "<div><p>Hi</p><br></div>", {}, {}, True),
    ({"type": "is-html"}, "Hello <b>world</b>", {}, {}, False),
    ({"type": "contains-html"}, "Hello <b>world</b>", {}, {}, True),
    ({"type": "contains-html"}, "x < y and y > z", {}, {}, False),
    ({"type": "is-sql"}, "SELECT id, name FROM users WHERE age > 3;", {}, {}, True),
    ({"type": "is-sql"}, "Sure! Here are the users you asked for.", {}, {}, False),
    ({"type": "contains-sql"}, "Try this:\n```sql\nDELETE FROM logs WHERE day < 3\n```", {}, {}, True),
    ({"type": "contains-sql"}, "I would select the best users.", {}, {}, False),
    ({"type": "rouge-n", "value": "the cat sat on the mat"}, "the cat sat on the mat today", {}, {}, True),
    ({"type": "rouge-n", "value": "the cat sat on the mat"}, "a dog ran", {}, {}, False),
    ({"type": "bleu", "value": "the quick brown fox jumps over the dog"}, "the quick brown fox jumps over the dog",
     {}, {}, True),
    ({"type": "bleu", "value": "the quick brown fox jumps over the dog"}, "a slow red cat", {}, {}, False),
    ({"type": "gleu", "value": ["hello there world", "good morning"]}, "good morning", {}, {}, True),
    ({"type": "gleu", "value": "hello there world"}, "bye", {}, {}, False),
    ({"type": "json-path", "path": "$.issue.type", "value": "bug"}, '{"issue": {"type": "bug"}}', {}, {}, True),
    ({"type": "json-path", "path": "items[1].id", "value": 7}, 'Result: {"items": [{"id": 1}, {"id": 8}]}', {}, {},
     False),
    ({"type": "tool-call", "value": {"name": "get_weather", "arguments": {"city": "{{ vars.city }}"}}}, "",
     {"vars": {"city": "Paris"}}, {"tool_calls": PARIS}, True),
    ({"type": "tool-call", "value": {"name": "get_weather", "arguments": {"city": "Rome"}}}, "", {},
     {"tool_calls": PARIS}, False),
    ({"type": "is-valid-tool-call"}, "", {}, {"tool_calls": PARIS, "tools": WEATHER}, True),
    ({"type": "is-valid-tool-call"}, "", {}, {"tool_calls": calls(("get_weather", '{"days": 2}')), "tools": WEATHER},
     False),
    ({"type": "is-valid-openai-tools-call", "value": WEATHER}, "", {}, {"tool_calls": PARIS}, True),
    ({"type": "is-valid-openai-tools-call"}, "", {}, {"tool_calls": calls(("send_mail", "{}")), "tools": WEATHER},
     False),
    ({"type": "is-valid-function-call"}, "", {}, {"tool_calls": PARIS, "tools": WEATHER}, True),
    ({"type": "is-valid-function-call"}, "just text", {}, {"tool_calls": None, "tools": WEATHER}, False),
    ({"type": "is-valid-openai-function-call"}, "", {}, {"tool_calls": PARIS, "tools": WEATHER}, True),
    ({"type": "is-valid-openai-function-call"}, "", {}, {"tool_calls": calls(("get_weather", "not json")),
                                                          "tools": WEATHER}, False),
    ({"type": "tool-call-f1", "value": ["get_weather"]}, "", {}, {"tool_calls": PARIS}, True),
    ({"type": "tool-call-f1", "value": ["get_weather", "get_time"]}, "", {}, {"tool_calls": PARIS}, False),
    ({"type": "finish-reason", "value": "tool_calls"}, "", {}, {"finish_reason": "tool_calls"}, True),
    ({"type": "finish-reason", "value": "stop"}, "", {}, {"finish_reason": "length"}, False),
]
NEW_FAMILIES = ("words", "markup", "overlap", "fields", "tools")


def _id(row) -> str:
    return f"{row[0]['type']}-{'pass' if row[4] else 'fail'}-{row[1][:10]}"


@pytest.mark.parametrize("row", ROWS, ids=[_id(r) for r in ROWS])
async def test_row_and_its_not_form(row, tmp_path):
    spec, output, kwargs, fields, passes = row
    validate_assertion(spec)
    ctx = GradeContext(root=tmp_path, **fields)
    result = await grade([spec], output, ctx=ctx, **kwargs)
    assert result.passed is passes, result.reason
    assert not result.components[0]["error"], result.components[0]
    negated = await grade([{**spec, "type": "not-" + spec["type"]}], output, ctx=ctx, **kwargs)
    assert negated.passed is (not passes), negated.reason
    assert negated.score == pytest.approx(1.0 - result.score)


def test_every_new_type_has_a_passing_and_a_failing_row():
    covered = {(r[0]["type"], r[4]) for r in ROWS}
    new = [name for name, atype in registry().items() if atype.family in NEW_FAMILIES]
    assert len(new) >= 20
    for name in new:
        assert (name, True) in covered and (name, False) in covered, name
        assert "not-" + name in assertion_types()


def test_promptfoo_deterministic_types_are_all_registered_or_listed_with_a_reason():
    types_ = assertion_types()
    for name in PROMPTFOO_DETERMINISTIC:
        assert name in types_ or NOT_IMPORTED.get(name), name
    for name in ("word-count", "finish-reason", "is-refusal", "rouge-n", "bleu", "is-xml", "contains-xml",
                 "is-sql", "contains-sql", "is-html", "gleu", "icontains-any", "tool-call-f1"):
        assert name in types_, name


@pytest.mark.parametrize("spec, message", [
    ({"type": "word-count", "value": {"min": 5, "max": 2}}, "above max"),
    ({"type": "word-count", "value": {"least": 1}}, "number or"),
    ({"type": "is-sql", "value": {"tables": ["x"]}}, "allowedTables"),
    ({"type": "tool-call", "value": {"name": "f", "arguments": "city=Paris"}}, "mapping"),
    ({"type": "is-valid-tool-call", "value": [{"nope": 1}]}, "function schema"),
    ({"type": "is-refusal", "value": "x"}, "takes no value"),
    ({"type": "equals", "value": "x", "transform": "output |"}, "does not parse"),
])
def test_bad_specs_are_refused_with_a_reason(spec, message):
    with pytest.raises(ValueError, match=message):
        validate_assertion(spec)


async def test_sql_allowed_tables_and_statement_shapes():
    ok = await grade([{"type": "is-sql", "value": {"allowedTables": ["users"]}}], "SELECT * FROM users")
    bad = await grade([{"type": "is-sql", "value": {"allowedTables": ["users"]}}],
                      "SELECT * FROM users JOIN secrets ON users.id = secrets.uid")
    assert ok.passed and not bad.passed and "secrets" in bad.reason
    for text in ("UPDATE t SET a = 1 WHERE id = 2", "INSERT INTO t (a) VALUES (1)", "WITH x AS (SELECT 1) SELECT * FROM x",
                 "CREATE TABLE t (id int)"):
        assert (await grade([{"type": "is-sql"}], text)).passed, text
    for text in ("SELECT (a FROM t", "UPDATE t WHERE a = 1", "SELECT 'open FROM t", "INSERT INTO t"):
        assert not (await grade([{"type": "is-sql"}], text)).passed, text


def test_overlap_scores_match_hand_computed_values():
    assert rouge_n("the cat", "the cat sat", 1) == pytest.approx(2 / 3)
    assert rouge_n("the cat sat", "the cat sat", 2) == 1.0
    assert bleu("a b c d", "a b c d") == pytest.approx(1.0)
    assert 0 < bleu("a b c x", "a b c d") < 1
    assert gleu("a b", "a b c") == pytest.approx(3 / 6)  # 3 shared n-grams of 6 in the reference


async def test_assertion_transform_reads_a_json_field_with_vars():
    out = '{"issue_type": "bug", "priority": 2}'
    spec = {"type": "equals", "value": "{{ vars.want }}", "transform": "(output | fromjson).issue_type"}
    assert (await grade([spec], out, vars={"want": "bug"})).passed
    assert not (await grade([spec], out, vars={"want": "feature"})).passed
    mapping = {"type": "is-json", "transform": "output | fromjson"}
    assert (await grade([mapping], "```json\n{\"a\": 1}\n```")).passed
    broken = await grade([{"type": "equals", "value": "x", "transform": "(output | fromjson).a"}], "not json")
    assert not broken.passed and broken.components[0]["error"] and "fromjson" in broken.reason


async def test_transform_cannot_escape_the_sandbox_or_loop_forever():
    escape = await grade([{"type": "equals", "value": "x", "transform": "output.__class__.__mro__"}], "x")
    assert not escape.passed and escape.components[0]["error"]
    loop = await grade([{"type": "equals", "value": "x", "transform": "range(10**9) | list | length"}], "x")
    assert not loop.passed and "steps" in loop.reason
