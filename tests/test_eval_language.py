"""The eval language (issue 12, parts 1 and 2): templated assertion values, file:// references,
the default-assertion rule, and suites as promptfoo writes them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from promptops.assertions import (
    GradeError,
    case_specs,
    grade,
    substitute,
    validate_assertion,
)
from promptops.config import load_config
from promptops.errors import PromptFileError, SuiteError
from promptops.eval.evaluate import evaluate
from promptops.history import History
from promptops.prompts import parse_prompt
from promptops.store import open_store
from promptops.suites import check_cases, load_suite, parse_suite_texts
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import CAPITALS, capital_rules, make_project

PROMPT = """---
name: p
input: {{{inputs}}}
---
user:
{{{{ text }}}}
"""


def prompt(inputs: str = "text: string", extra: str = ""):
    text = PROMPT.format(inputs=inputs)
    if extra:
        text = text.replace("---\nuser", f"{extra}\n---\nuser", 1)
    return parse_prompt(text, source="prompts/p.prompt", expected_name="p")


# -- 1. assertion values are templates ---------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("{{ language }}", "French"),                       # promptfoo's form: the variable, not the text
    ("{{ vars.language }}", "French"),
    ("{{language}}", "French"),
    ("in {{ language | lower }}!", "in french!"),
    ("{{ expected }}", "Bonjour"),
    (["{{ language }}", "x"], ["French", "x"]),
    ({"k": "{{ language }}"}, {"k": "French"}),
    ("{{ words }}", ["a", "b"]),                        # one reference keeps the raw value
    ("{% if n > 1 %}many{% else %}one{% endif %}", "many"),
    ("plain", "plain"),
])
def test_assertion_values_render_with_the_cases_vars(value, expected) -> None:
    variables = {"language": "French", "words": ["a", "b"], "n": 2}
    assert substitute(value, "Bonjour", variables) == expected


@pytest.mark.parametrize("value, fragment", [
    ("{{ nope }}", "no variable 'nope'"),
    ("say {{ nope }}", "nope"),
    ("{{ expected }}", "no expected value"),
])
def test_an_undefined_name_in_a_value_is_an_error_not_the_literal(value, fragment) -> None:
    with pytest.raises(GradeError, match=fragment):
        substitute(value, None, {"language": "French"})


async def test_a_templated_value_grades_against_the_variable() -> None:
    graded = await grade([{"type": "icontains", "value": "{{ language }}"}], "Réponse en french",
                         vars={"language": "French"})
    assert graded.passed
    graded = await grade([{"type": "icontains", "value": "{{ language }}"}], "{{ language }}", vars={"language": "de"})
    assert not graded.passed  # the literal text never matches by accident


def test_a_broken_template_is_refused_when_the_suite_loads() -> None:
    with pytest.raises(ValueError, match="bad template"):
        validate_assertion({"type": "contains", "value": "{{ oops"})
    with pytest.raises(SuiteError, match="bad template") as info:
        parse_suite_texts([("datasets/s/c.yaml", "- vars: {text: a}\n  assert: [{type: contains, value: '{{ a'}]\n")])
    assert info.value.where == "datasets/s/c.yaml:1"


def test_an_undefined_variable_in_a_value_fails_before_any_call_naming_file_and_case() -> None:
    text = ("- vars: {text: a}\n- id: second\n  vars: {text: b}\n"
            "  assert: [{type: contains, value: '{{ language }}'}]\n")
    cases = parse_suite_texts([("datasets/s/c.yaml", text)])
    with pytest.raises(SuiteError, match="case 'second'.*language") as info:
        check_cases(cases, prompt())
    assert info.value.where == "datasets/s/c.yaml:2"


# -- the default-assertion rule ------------------------------------------------------------------

def test_the_default_assertion_rule() -> None:
    default = {"type": "icontains", "value": "{{ expected }}"}
    own = {"type": "contains", "value": "x"}
    equals = {"type": "equals", "value": "{{ expected }}"}
    assert case_specs([default], [own], "pos") == [own]  # own assertions only: nothing appended
    assert case_specs([default], [], "pos") == [default]
    assert case_specs([], [], "pos") == [equals]
    assert case_specs([], [], None) == []


# -- 2. suites as promptfoo writes them ---------------------------------------------------------

PROMPTFOO_YAML = """\
defaultTest:
  vars: {language: French}
  assert:
    - type: icontains
      value: "{{ language }}"
      metric: language
  threshold: 0.5
tests:
  - vars: {text: hello}
  - vars: {text: bye, language: German}
    threshold: 1
    assert: [{type: contains, value: "{{ text }}"}]
"""


def test_a_mapping_with_defaulttest_and_tests_merges_as_promptfoo_does() -> None:
    cases = parse_suite_texts([("datasets/s/c.yaml", PROMPTFOO_YAML)])
    assert [c.vars for c in cases] == [{"language": "French", "text": "hello"}, {"language": "German", "text": "bye"}]
    assert cases[0].asserts == [{"type": "icontains", "value": "{{ language }}", "metric": "language"}]
    assert [a["type"] for a in cases[1].asserts] == ["icontains", "contains"]  # defaults first
    assert [c.threshold for c in cases] == [0.5, 1.0]
    assert [c.where for c in cases] == ["datasets/s/c.yaml:9", "datasets/s/c.yaml:10"]
    native = parse_suite_texts([("datasets/s/c.yaml", PROMPTFOO_YAML.replace("defaultTest", "defaults")
                                 .replace("tests:", "cases:"))])
    assert [c.to_dict() for c in native] == [c.to_dict() for c in cases]


def test_variable_lists_expand_only_when_asked() -> None:
    text = "cases:\n  - vars: {a: [1, 2, 3], b: [x, y], c: k}\n"
    assert len(parse_suite_texts([("s.yaml", text)])) == 1  # a list is a value
    cases = parse_suite_texts([("s.yaml", "expand: true\n" + text)])
    assert [(c.vars["a"], c.vars["b"]) for c in cases] == [(1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "y")]
    assert all(c.vars["c"] == "k" for c in cases) and len({c.id for c in cases}) == 6
    with pytest.raises(SuiteError, match="empty list"):
        parse_suite_texts([("s.yaml", "expand: true\ncases:\n  - vars: {a: []}\n")])
    with pytest.raises(SuiteError, match="unknown suite key"):
        parse_suite_texts([("s.yaml", "cases: []\nprompts: [x]\n")])


def test_yaml_scalars_keep_the_text_written_for_string_inputs() -> None:
    text = "- vars: {text: yes, code: 007, n: 007, flag: on}\n  expected: 0.50\n"
    cases = parse_suite_texts([("s.yaml", text)])
    check_cases(cases, prompt("text: string, code: string, n: integer, flag: boolean"))
    assert cases[0].vars == {"text": "yes", "code": "007", "n": 7, "flag": True}
    assert cases[0].expected == "0.50"
    merged = parse_suite_texts([("s.yaml", "defaults: {vars: {text: no, code: 1}}\ncases:\n  - vars: {code: 2}\n")])
    check_cases(merged, prompt("text: string, code: integer"))
    assert merged[0].vars == {"text": "no", "code": 2}


CSV = ("\ufeff__expected1,__expected2,__metric,__threshold,__metadata:topic,__metadata:tags[],text,items\n"
       'contains:Paris,equals:Paris,geo,0.5,capitals,"a, b",hi,"[""x"", ""y""]"\n'
       'Rome,,,,,,yo,[]\n')


def test_csv_takes_promptfoos_special_columns() -> None:
    cases = parse_suite_texts([("datasets/s/c.csv", CSV)])
    first, second = cases
    assert first.asserts == [{"type": "contains", "value": "Paris", "metric": "geo"},
                             {"type": "equals", "value": "Paris", "metric": "geo"}]
    assert first.threshold == 0.5 and first.metadata == {"topic": "capitals", "tags": ["a", "b"]}
    assert second.asserts == [{"type": "equals", "value": "Rome"}]  # plain __expectedN is equals
    check_cases(cases, prompt("text: string, items: list"))
    assert first.vars["items"] == ["x", "y"] and second.vars["items"] == []
    bad = parse_suite_texts([("datasets/s/c.csv", "text,items\nhi,not json\n")])
    with pytest.raises(SuiteError, match="not JSON") as info:
        check_cases(bad, prompt("text: string, items: list"))
    assert info.value.where == "datasets/s/c.csv:2"


def test_a_plain_expected_with_assertion_columns_is_checked_too() -> None:
    case = parse_suite_texts([("s.csv", "__expected,__expected2,text\nParis,icontains:par,hi\n")])[0]
    assert case.expected == "Paris"
    assert case.asserts == [{"type": "equals", "value": "{{ expected }}"}, {"type": "icontains", "value": "par"}]


def test_unknown_special_columns_are_refused() -> None:
    with pytest.raises(SuiteError, match="__prefix"):
        parse_suite_texts([("s.csv", "__prefix,text\na,b\n")])


# -- file:// ------------------------------------------------------------------------------------

def _repo(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "promptops.yaml").write_text("{}\n")
    (tmp_path / "datasets" / "s" / "emails").mkdir(parents=True)
    (tmp_path / "datasets" / "s" / "emails" / "e1.txt").write_text("Dear team,\nhello")
    (tmp_path / "datasets" / "s" / "profile.json").write_text('{"name": "Ada"}')
    (tmp_path / "datasets" / "s" / "emails" / "words.yaml").write_text("[hello, team]\n")
    return tmp_path


def test_file_references_are_read_relative_to_the_suite(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "datasets" / "s" / "c.yaml").write_text(
        "- vars: {text: file://emails/e1.txt, who: file://profile.json}\n"
        "  assert: [{type: contains-all, value: file://emails/words.yaml}]\n")
    case = load_suite(root / "datasets" / "s")[0]
    assert case.vars == {"text": "Dear team,\nhello", "who": {"name": "Ada"}}
    assert case.asserts[0]["value"] == ["hello", "team"]


@pytest.mark.parametrize("ref, fragment", [
    ("file://emails/missing.txt", "no file 'datasets/s/emails/missing.txt'"),
    ("file://../../../etc/passwd", "leaves the repository"),
    ("file:///etc/passwd", "absolute"),
    ("file://run.py", "code files"),
])
def test_bad_file_references_are_errors_with_file_and_line(tmp_path: Path, ref: str, fragment: str) -> None:
    root = _repo(tmp_path)
    (root / "datasets" / "s" / "run.py").write_text("print(1)\n")
    (root / "datasets" / "s" / "c.jsonl").write_text('{"vars": {"text": "a"}}\n' + json.dumps({"vars": {"text": ref}}) + "\n")
    with pytest.raises(SuiteError, match=fragment) as info:
        load_suite(root / "datasets" / "s" / "c.jsonl")
    assert info.value.where.endswith("datasets/s/c.jsonl:2")


@pytest.mark.skipif(os.name == "nt", reason="symlinks")
def test_a_symlink_out_of_the_repository_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    root = _repo(tmp_path / "repo")
    (root / "datasets" / "s" / "link.txt").symlink_to(outside)
    (root / "datasets" / "s" / "c.yaml").write_text("- vars: {text: file://link.txt}\n")
    with pytest.raises(SuiteError, match="symlink"):
        load_suite(root / "datasets" / "s" / "c.yaml")


def test_cases_from_another_file_get_this_files_defaults(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "datasets" / "s" / "emails" / "rows.csv").write_text('text,n\nhello,1\nbye,2\n')
    (root / "datasets" / "s" / "c.yaml").write_text(
        "defaultTest: {assert: [{type: contains, value: '{{ text }}'}]}\ntests: file://emails/rows.csv\n")
    cases = load_suite(root / "datasets" / "s" / "c.yaml")
    assert [c.vars["text"] for c in cases] == ["hello", "bye"]
    assert all(c.asserts == [{"type": "contains", "value": "{{ text }}"}] for c in cases)
    check_cases(cases, prompt("text: string, n: integer"))
    assert [c.vars["n"] for c in cases] == [1, 2]  # still CSV text, typed by the prompt's inputs


def test_a_prompts_suite_may_be_a_file_reference(tmp_path: Path) -> None:
    p = prompt(extra="suite: file://../datasets/s")
    assert p.suite == "datasets/s"
    with pytest.raises(PromptFileError, match="leaves the repository"):
        prompt(extra="suite: file://../../elsewhere")


# -- end to end ---------------------------------------------------------------------------------

WRONG = {"Peru", "Chile", "Cuba", "Oman", "Qatar"}


def _promptfoo_suite(root: Path) -> None:
    suite = root / "datasets" / "capital"
    (suite / "cases.jsonl").unlink()
    (suite / "notes").mkdir()
    (suite / "notes" / "hint.txt").write_text("capital")
    rows = "".join(f"  - vars: {{country: {c}, city: {city}, hint: file://notes/hint.txt}}\n"
                   for c, city in CAPITALS.items())
    (suite / "cases.yaml").write_text(
        "defaultTest:\n  assert:\n    - {type: icontains, value: '{{ city }}', metric: city}\n"
        "    - {type: not-contains, value: '{{ hint }}', metric: tidy}\ntests:\n" + rows)


def test_a_promptfoo_suite_scores_as_promptfoo_would_and_says_what_each_case_ran(tmp_path: Path) -> None:
    with FakeOpenAI(rules=capital_rules(WRONG)) as server:
        root = make_project(tmp_path, server.base_url, commit=False)
        _promptfoo_suite(root)
        report = evaluate(load_config(root))
        s = report.summaries[0]
        assert (s.total, s.passed, s.failed) == (20, 15, 5)  # the prompt's equals-expected default is not added
        assert s.named_metrics == {"city": {"total": 20, "passed": 15, "pass_rate": 0.75, "score": 0.75},
                                   "tidy": {"total": 20, "passed": 20, "pass_rate": 1.0, "score": 1.0}}
        row = s.to_dict()["results"][0]
        assert [(a["type"], a["metric"]) for a in row["assertions"]] == [("icontains", "city"), ("not-contains", "tidy")]
        store = open_store(load_config(root))
        try:
            stored = store.results(s.run_id)
        finally:
            store.close()
        assert all([a["type"] for a in r.assertions] == ["icontains", "not-contains"] for r in stored)


def test_an_eval_at_a_ref_reads_referenced_files_as_they_were(tmp_path: Path) -> None:
    with FakeOpenAI(rules=capital_rules()) as server:
        root = make_project(tmp_path, server.base_url)
        _promptfoo_suite(root)
        from .helpers import git

        git(root, "add", "-A")
        git(root, "commit", "-qm", "promptfoo suite")
        (root / "datasets" / "capital" / "notes" / "hint.txt").write_text("changed")
        history = History(root, "prompts")
        p = history.resolve("capital@HEAD").prompt
        assert history.suite_at(p, "HEAD")[0].vars["hint"] == "capital"
        assert history.suite_at(p, None)[0].vars["hint"] == "changed"


def test_the_cli_exits_2_naming_the_missing_file(tmp_path: Path, cli) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9", commit=False)
    (root / "datasets" / "capital" / "cases.jsonl").write_text('{"vars": {"country": "file://nowhere.txt"}}\n')
    result = cli("eval", "capital", cwd=root, code=2)
    assert "datasets/capital/cases.jsonl:1" in result.stderr + result.stdout
    assert "nowhere.txt" in result.stderr + result.stdout
