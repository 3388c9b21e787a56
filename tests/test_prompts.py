"""Prompt files: parsing, validation errors with file and line, hashing, rendering."""

from pathlib import Path

import pytest

from promptops.errors import PromptFileError, RenderError
from promptops.prompts import load_prompt, parse_prompt

GOOD = """---
name: greet
description: Say hi.
params: {temperature: 0}
input:
  who: string
  n: {type: integer, required: false, default: 1}
suite: datasets/greet
target: 0.9
---
system:
Be brief.
user:
Say hi to {{ who }} {{ n }} times.
assistant:
Hi!
user:
Again, {{ who }}.
"""


def test_parse_fields_and_render():
    p = parse_prompt(GOOD, source="greet.prompt", expected_name="greet")
    assert p.name == "greet" and p.target == 0.9 and p.params == {"temperature": 0}
    assert [s.role for s in p.sections] == ["system", "user", "assistant", "user"]
    msgs = p.render({"who": "Ann"})
    assert msgs[1] == {"role": "user", "content": "Say hi to Ann 1 times."}
    assert msgs[3]["content"] == "Again, Ann."
    assert len(p.version) == 12 and p.hash.startswith(p.version)


def test_hash_ignores_front_matter_whitespace_and_order():
    a = parse_prompt(GOOD)
    reformatted = GOOD.replace("params: {temperature: 0}", "params:\n    temperature:   0").replace(
        "description: Say hi.\n", "") .replace("target: 0.9", "target: 0.9\ndescription: Say hi.")
    assert parse_prompt(reformatted).hash == a.hash


def test_hash_changes_with_body_and_values():
    a = parse_prompt(GOOD)
    assert parse_prompt(GOOD.replace("Be brief.", "Be very brief.")).hash != a.hash
    assert parse_prompt(GOOD.replace("target: 0.9", "target: 0.8")).hash != a.hash


def test_hash_is_stable_across_line_endings_and_trailing_newlines():
    a = parse_prompt(GOOD)
    assert parse_prompt(GOOD.replace("\n", "\r\n")).hash == a.hash
    assert parse_prompt(GOOD + "\n\n").hash == a.hash


def test_no_role_sections_means_one_user_message():
    p = parse_prompt("---\nname: t\ninput: [x]\n---\nTranslate {{ x }}\n")
    assert p.render({"x": "hola"}) == [{"role": "user", "content": "Translate hola"}]


@pytest.mark.parametrize("text, line, fragment", [
    ("name: x\n---\nuser:\nhi\n", 1, "missing front matter"),
    ("---\nname: x\nuser:\nhi\n", 1, "not closed"),
    ("---\nname: [x\n---\nuser:\nhi\n", 2, "invalid YAML"),
    ("---\nname: x\ncolour: red\n---\nuser:\nhi\n", 3, "unknown key 'colour'"),
    ("---\nname: x\n---\n\n", 4, "missing body"),
    ("---\nname: x\n---\nsystem:\nhi\nrobot:\nbeep\n", 6, "unknown role 'robot'"),
    ("---\nname: x\n---\nuser:\nhello {{ who\n", 5, "template syntax error"),
    ("---\nname: x\ninput: {a: string}\n---\nsystem:\nok\nuser:\nhi {{ b }}\n", 8, "'b' is used but not declared"),
    ("---\nname: x\ntarget: 2\n---\nuser:\nhi\n", 3, "between 0 and 1"),
    ("---\nname: x\ninput: {a: colour}\n---\nuser:\n{{ a }}\n", 3, "unknown type"),
    ("---\nname: x\n---\nhello\nuser:\nhi\n", 4, "text before the first role"),
    ("---\nname: x\n---\nuser:\nhi\nassistant:\nyo\n", 6, "must end with a user turn"),
    ("---\nname: x\n---\nuser:\nhi\nsystem:\n\n", 6, "empty 'system' section"),
    ("---\nname: x\nassert: [{type: nonsense}]\n---\nuser:\nhi\n", 3, "bad assertion"),
])
def test_errors_name_file_and_line(text, line, fragment):
    with pytest.raises(PromptFileError) as info:
        parse_prompt(text, source="p/x.prompt")
    err = info.value
    assert err.where == f"p/x.prompt:{line}", err.one_line()
    assert fragment in err.message
    assert err.hint


def test_name_must_match_file(tmp_path: Path):
    path = tmp_path / "other.prompt"
    path.write_text(GOOD)
    with pytest.raises(PromptFileError, match="differs from the file name"):
        load_prompt(path)


def test_missing_suite_path_is_an_error(tmp_path: Path):
    (tmp_path / "greet.prompt").write_text(GOOD)
    with pytest.raises(PromptFileError, match="suite path 'datasets/greet' does not exist") as info:
        load_prompt(tmp_path / "greet.prompt", root=tmp_path)
    assert info.value.where.endswith(":8")
    (tmp_path / "datasets" / "greet").mkdir(parents=True)
    assert load_prompt(tmp_path / "greet.prompt", root=tmp_path).name == "greet"


@pytest.mark.parametrize("variables, fragment", [
    ({}, "missing variable 'who'"),
    ({"who": 3}, "must be string"),
    ({"who": "a", "n": "x"}, "must be integer"),
    ({"who": "a", "extra": 1}, "unknown variable(s): extra"),
])
def test_render_rejects_bad_variables(variables, fragment):
    p = parse_prompt(GOOD)
    with pytest.raises(RenderError) as info:
        p.render(variables)
    assert fragment in info.value.message


def test_sandbox_blocks_attribute_escape():
    p = parse_prompt("---\nname: t\ninput: [x]\n---\nuser:\n{{ x.__class__.__mro__ }}\n")
    with pytest.raises(RenderError):
        p.render({"x": "a"})


def test_repository_prompts_parse():
    root = Path(__file__).resolve().parents[1]
    for path in sorted((root / "prompts").glob("*.prompt")):
        p = load_prompt(path, root=root)
        assert p.suite and p.target
