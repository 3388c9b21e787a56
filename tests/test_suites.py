"""Regression suites: JSONL, YAML and CSV, ids, validation errors with file and line."""

from pathlib import Path

import pytest

from promptops.errors import SuiteError
from promptops.prompts import parse_prompt
from promptops.suites import case_id, check_cases, load_suite, parse_suite_texts


def test_jsonl_yaml_csv_agree():
    jsonl = '{"vars": {"q": "a"}, "expected": "x"}\n\n{"id": "two", "vars": {"q": "b"}, "tags": ["t"]}\n'
    yaml_text = "- vars: {q: a}\n  expected: x\n- id: two\n  vars: {q: b}\n  tags: [t]\n"
    csv_text = "q,__expected,__id,__tags\na,x,,\nb,,two,t\n"
    results = [parse_suite_texts([(name, text)]) for name, text in
               (("s.jsonl", jsonl), ("s.yaml", yaml_text), ("s.csv", csv_text))]
    for cases in results:
        assert [c.id for c in cases] == [case_id({"q": "a"}), "two"]
        assert cases[0].expected == "x" and cases[1].tags == ["t"]


def test_csv_expected_assertion_convention():
    cases = parse_suite_texts([("s.csv", "q,__expected\nhi,contains:hello\nyo,plain\n")])
    assert cases[0].asserts == [{"type": "contains", "value": "hello"}] and cases[0].expected is None
    assert cases[1].expected == "plain"


def test_ids_are_stable_and_content_derived():
    assert case_id({"a": 1, "b": 2}) == case_id({"b": 2, "a": 1})
    assert case_id({"a": 1}) != case_id({"a": 2})


@pytest.mark.parametrize("name, text, where, fragment", [
    ("s.jsonl", '{"vars": {"q": 1}}\n{"vars": \n', "s.jsonl:2", "invalid JSON"),
    ("s.jsonl", '{"vars": {"q": 1}, "colour": 1}\n', "s.jsonl:1", "unknown case key"),
    ("s.jsonl", '{"vars": [1]}\n', "s.jsonl:1", "'vars' must be a mapping"),
    ("s.jsonl", '{"id": "a", "vars": {}}\n{"id": "a", "vars": {"q": 1}}\n', "s.jsonl:2", "duplicate case id"),
    ("s.yaml", "- vars: {q: 1}\n- vars: [\n", "s.yaml:3", "invalid YAML"),
    ("s.yaml", "foo: bar\n", "s.yaml:1", "list of cases"),
    ("s.csv", "q,__expected\na,b,c\n", "s.csv:2", "row has 3 cells"),
    ("s.csv", "q,__weird\na,b\n", "s.csv:1", "unknown special column"),
    ("s.jsonl", '{"vars": {}, "assert": [{"type": "nope"}]}\n', "s.jsonl:1", "bad assertion"),
    ("s.txt", "x", "s.txt", "unsupported suite file type"),
])
def test_errors_name_file_and_line(name, text, where, fragment):
    with pytest.raises(SuiteError) as info:
        parse_suite_texts([(name, text)])
    assert info.value.where == where, info.value.one_line()
    assert fragment in info.value.message


def test_folder_and_missing_paths(tmp_path: Path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "a.jsonl").write_text('{"vars": {"q": 1}}\n')
    (tmp_path / "s" / "b.yaml").write_text("- vars: {q: 2}\n")
    (tmp_path / "s" / "notes.md").write_text("ignored")
    assert len(load_suite(tmp_path / "s")) == 2
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SuiteError, match="holds no"):
        load_suite(tmp_path / "empty")


def test_cases_must_give_required_inputs():
    prompt = parse_prompt("---\nname: p\ninput: {q: string}\n---\nuser:\n{{ q }}\n")
    cases = parse_suite_texts([("s.jsonl", '{"vars": {"q": "a"}}\n{"vars": {"r": "b"}}\n')])
    with pytest.raises(SuiteError, match="lacks variable"):
        check_cases(cases, prompt)


def test_repository_suites_are_large_enough():
    root = Path(__file__).resolve().parents[1]
    for name in ("snips-intent", "sst2-sentiment"):
        cases = load_suite(root / "datasets" / name)
        assert len(cases) >= 100
        assert all(c.expected for c in cases)
