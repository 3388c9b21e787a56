"""``file://`` in a prompt's front-matter ``assert:`` (issue 12): read relative to the prompt file,
part of the version's hash, read at the commit an eval targets, and refused with the prompt's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptops.config import load_config
from promptops.errors import PromptFileError
from promptops.eval.evaluate import evaluate
from promptops.history import History
from promptops.prompts import load_prompt, parse_prompt
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import capital_rules, git, make_project

PROMPT = """---
name: p
input: {{text: string}}
{asserts}
---
user:
{{{{ text }}}}
"""


def _write(root: Path, asserts: str, name: str = "p") -> Path:
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "promptops.yaml").write_text("{}\n")
    path = root / "prompts" / f"{name}.prompt"
    path.write_text(PROMPT.format(asserts=asserts).replace("name: p", f"name: {name}"))
    return path


def test_values_and_lists_are_read_relative_to_the_prompt_file(tmp_path: Path) -> None:
    (tmp_path / "prompts" / "checks").mkdir(parents=True)
    (tmp_path / "prompts" / "rubric.txt").write_text("Answer politely.\n")
    (tmp_path / "prompts" / "checks" / "words.yaml").write_text("[hello, team]\n")
    (tmp_path / "prompts" / "checks" / "list.yaml").write_text(
        "- {type: contains-all, value: file://words.yaml}\n- {type: icontains, value: hello}\n")
    path = _write(tmp_path, "assert:\n  - {type: llm-rubric, value: file://rubric.txt}")
    p = load_prompt(path, root=tmp_path)
    assert p.asserts == [{"type": "llm-rubric", "value": "Answer politely.\n"}]
    assert set(p.refs) == {"prompts/rubric.txt"}
    path = _write(tmp_path, "assert: file://checks/list.yaml")
    p = load_prompt(path, root=tmp_path)
    assert p.asserts == [{"type": "contains-all", "value": ["hello", "team"]}, {"type": "icontains", "value": "hello"}]
    assert set(p.refs) == {"prompts/checks/list.yaml", "prompts/checks/words.yaml"}  # nested: relative to list.yaml


def test_a_changed_referenced_file_is_a_new_version(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir(parents=True)
    (tmp_path / "prompts" / "rubric.txt").write_text("Be brief.")
    path = _write(tmp_path, "assert: [{type: llm-rubric, value: file://rubric.txt}]")
    first = load_prompt(path, root=tmp_path).hash
    assert load_prompt(path, root=tmp_path).hash == first
    (tmp_path / "prompts" / "rubric.txt").write_text("Be thorough.")
    assert load_prompt(path, root=tmp_path).hash != first
    plain = tmp_path / "prompts" / "q.prompt"  # a prompt naming no file keeps the hash it always had
    plain.write_text(PROMPT.format(asserts="assert: [{type: contains, value: x}]").replace("name: p", "name: q"))
    from promptops.prompts import content_hash

    q = load_prompt(plain, root=tmp_path)
    assert q.refs == {} and q.hash == content_hash(q.front, q.sections)


@pytest.mark.parametrize("asserts, fragment", [
    ("assert: [{type: llm-rubric, value: file://missing.txt}]", "no file 'prompts/missing.txt'"),
    ("assert: [{type: contains, value: file://../../etc/passwd}]", "leaves the repository"),
    ("assert: [{type: contains, value: file:///etc/passwd}]", "absolute path"),
    ("assert: [{type: contains, value: file://grader.js}]", "code files are not run as values"),
    ("assert: file://rubric.txt", "an assertion list is a .yaml, .yml or .json file"),
    ("assert: file://scalar.yaml", "holds str, not a list of assertions"),
    ("assert: file://missing.yaml", "no file 'prompts/missing.yaml'"),
    ("assert: [{type: python, value: file://nowhere.py}]", "no file 'nowhere.py'"),
])
def test_bad_references_are_one_line_errors_naming_the_prompt_file(tmp_path: Path, asserts: str, fragment: str) -> None:
    (tmp_path / "prompts").mkdir(parents=True)
    (tmp_path / "prompts" / "grader.js").write_text("1")
    (tmp_path / "prompts" / "rubric.txt").write_text("x")
    (tmp_path / "prompts" / "scalar.yaml").write_text("just text\n")
    path = _write(tmp_path, asserts)
    with pytest.raises(PromptFileError, match=fragment) as info:
        load_prompt(path, root=tmp_path)
    assert info.value.where == "prompts/p.prompt:4"
    assert "\n" not in info.value.one_line()


def test_text_from_nowhere_keeps_the_references_unread() -> None:
    text = PROMPT.format(asserts="assert: [{type: llm-rubric, value: file://rubric.txt}]")
    p = parse_prompt(text, source="p@abc123", expected_name="p")  # a server's content: no files around it
    assert p.asserts == [{"type": "llm-rubric", "value": "file://rubric.txt"}] and p.refs == {}


GRADER = "def get_assert(output, context):\n    return {verdict}\n"


def _graded_project(tmp_path: Path, base_url: str) -> Path:
    root = make_project(tmp_path, base_url, countries=["France", "Spain"], commit=False)
    text = (root / "prompts" / "capital.prompt").read_text()
    text = text.replace('  - type: iequals\n    value: "{{ expected }}"\n',
                        "  - {type: python, value: 'file://checks/grader.py'}\n"
                        "  - {type: icontains, value: file://city-word.txt}\n")
    (root / "prompts" / "capital.prompt").write_text(text)
    (root / "prompts" / "city-word.txt").write_text("a")
    (root / "checks").mkdir()
    (root / "checks" / "grader.py").write_text(GRADER.format(verdict="True"))
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "Tester")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "graded capital")
    return root


def test_an_eval_at_a_commit_reads_the_referenced_files_as_they_were(tmp_path: Path) -> None:
    with FakeOpenAI(rules=capital_rules()) as server:  # Paris, Madrid: both hold an 'a'
        root = _graded_project(tmp_path, server.base_url)
        history = History(root, "prompts")
        committed = history.resolve("capital@HEAD").prompt
        assert set(committed.refs) == {"checks/grader.py", "prompts/city-word.txt"}
        assert committed.asserts[0]["value"] == "checks/grader.py:get_assert"  # same as the working tree
        (root / "checks" / "grader.py").write_text(GRADER.format(verdict="False"))
        (root / "prompts" / "city-word.txt").write_text("zzz")
        history = History(root, "prompts")
        versions = history.versions("capital")
        assert versions[0].working_tree and versions[1].hash == committed.hash  # the edit is a new version
        again = history.resolve("capital@HEAD").prompt
        assert again.hash == committed.hash and again.asserts[1]["value"] == "a"
        assert again.asserts[0]["value"].startswith(".promptops/pinned/")  # the commit's grader, kept in memory
        at_head = evaluate(load_config(root), ["capital"], ref="HEAD").summaries[0]
        now = evaluate(load_config(root), ["capital"]).summaries[0]
        assert (at_head.passed, at_head.total) == (2, 2)
        assert (now.passed, now.total) == (0, 2)
        assert at_head.version != now.version


# -- a body or a section that is file://PATH ----------------------------------------------------

BODY = """---
name: b
input: {{text: string}}
---
{body}
"""


def _body(root: Path, body: str) -> Path:
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    path = root / "prompts" / "b.prompt"
    path.write_text(BODY.format(body=body))
    return path


def test_a_section_or_the_whole_body_may_be_a_file(tmp_path: Path) -> None:
    (tmp_path / "prompts" / "templates").mkdir(parents=True)
    (tmp_path / "prompts" / "templates" / "system.txt").write_text("Be brief.\nVery brief.\n")
    (tmp_path / "prompts" / "templates" / "chat.txt").write_text("system:\nYou translate.\nuser:\nTranslate {{ text }}\n")
    p = load_prompt(_body(tmp_path, "system:\nfile://templates/system.txt\nuser:\n{{ text }}"), root=tmp_path)
    assert p.render({"text": "hi"}) == [{"role": "system", "content": "Be brief.\nVery brief."},
                                        {"role": "user", "content": "hi"}]
    assert set(p.refs) == {"prompts/templates/system.txt"}
    whole = load_prompt(_body(tmp_path, "file://templates/chat.txt"), root=tmp_path)
    assert whole.render({"text": "hi"}) == [{"role": "system", "content": "You translate."},
                                            {"role": "user", "content": "Translate hi"}]
    assert "Translate {{ text }}" in whole.to_text()  # what the server sends: the template inlined
    assert parse_prompt(whole.to_text(), source="b@x", expected_name="b").render({"text": "hi"}) == whole.render(
        {"text": "hi"})
    before = whole.hash
    (tmp_path / "prompts" / "templates" / "chat.txt").write_text("user:\nTranslate {{ text }} please\n")
    assert load_prompt(tmp_path / "prompts" / "b.prompt", root=tmp_path).hash != before


@pytest.mark.parametrize("template, where, fragment", [
    ("user:\n{{ txt }}\n", "prompts/t.txt:2", "variable 'txt' is used but not declared"),
    ("user:\nok\nuser:\n{% if %}\n", "prompts/t.txt:4", "template syntax error"),
    ("", "prompts/b.prompt:5", "is empty"),
])
def test_errors_in_a_template_file_name_that_file_and_line(tmp_path: Path, template: str, where: str,
                                                           fragment: str) -> None:
    (tmp_path / "prompts").mkdir(parents=True)
    (tmp_path / "prompts" / "t.txt").write_text(template)
    with pytest.raises(PromptFileError, match=fragment) as info:
        load_prompt(_body(tmp_path, "file://t.txt"), root=tmp_path)
    assert info.value.where == where


@pytest.mark.parametrize("body, fragment", [
    ("user:\nfile://nowhere.txt", "no file 'prompts/nowhere.txt'"),
    ("user:\nfile://../../x.txt", "leaves the repository"),
    ("user:\nfile://chat.json", "a prompt body is a text template"),
])
def test_bad_body_references_are_errors_at_the_prompts_line(tmp_path: Path, body: str, fragment: str) -> None:
    (tmp_path / "prompts").mkdir(parents=True)
    (tmp_path / "prompts" / "chat.json").write_text("[]")
    with pytest.raises(PromptFileError, match=fragment) as info:
        load_prompt(_body(tmp_path, body), root=tmp_path)
    assert info.value.where == "prompts/b.prompt:6"


def test_a_body_file_without_the_project_is_refused_not_sent_literally() -> None:
    with pytest.raises(PromptFileError, match="no project files are at hand"):
        parse_prompt(BODY.format(body="user:\nfile://t.txt"), source="b@abc", expected_name="b")


def test_a_body_file_is_read_at_the_commit(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir(parents=True)
    (tmp_path / "promptops.yaml").write_text("{}\n")
    (tmp_path / "prompts" / "t.txt").write_text("Old {{ text }}")
    _body(tmp_path, "user:\nfile://t.txt")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "Tester")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "body in a file")
    (tmp_path / "prompts" / "t.txt").write_text("New {{ text }}")
    history = History(tmp_path, "prompts")
    assert history.resolve("b@HEAD").prompt.render({"text": "x"}) == [{"role": "user", "content": "Old x"}]
    assert history.resolve("b").prompt.render({"text": "x"}) == [{"role": "user", "content": "New x"}]
    assert [v.working_tree for v in history.versions("b")] == [True, False]
    assert [c.name for c in history.changed("HEAD", None)] == ["b"]


def test_a_commit_that_changes_only_a_named_file_is_a_version_in_the_log(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir(parents=True)
    (tmp_path / "prompts" / "rubric.txt").write_text("Be brief.")
    _write(tmp_path, "assert: [{type: llm-rubric, value: file://rubric.txt}]")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "Tester")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "first")
    (tmp_path / "README.md").write_text("unrelated")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "docs")
    (tmp_path / "prompts" / "rubric.txt").write_text("Be thorough.")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "a stricter rubric")
    history = History(tmp_path, "prompts")
    versions = history.versions("p")
    assert [[c.message for c in v.commits] for v in versions] == [["a stricter rubric"], ["first"]]
    old = history.resolve(f"p@{versions[1].version}").prompt
    assert old.asserts == [{"type": "llm-rubric", "value": "Be brief."}]
    assert history.resolve("p@HEAD").prompt.hash == versions[0].hash


def test_the_text_form_inlines_the_named_files(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir(parents=True)
    (tmp_path / "prompts" / "rubric.txt").write_text("Be brief.")
    (tmp_path / "prompts" / "list.yaml").write_text("- {type: icontains, value: hello}\n")
    for asserts in ("assert: [{type: llm-rubric, value: file://rubric.txt}]", "assert: file://list.yaml"):
        p = load_prompt(_write(tmp_path, asserts), root=tmp_path)
        text = p.to_text()  # what diffs show, the server sends and optimize's candidates start from
        assert "file://" not in text
        assert parse_prompt(text, source="p@x", expected_name="p").asserts == p.asserts
