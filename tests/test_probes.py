"""Probes of bad and hostile input (issue "Reliability and security"), kept as tests."""

from __future__ import annotations

import time

import pytest

from promptops.errors import PromptFileError, SuiteError
from promptops.prompts import parse_prompt
from promptops.suites import parse_suite_texts

PROMPT = """---
name: p
input: {{text: string}}
{extra}
---
user:
{{{{ text }}}}
"""


def prompt_with(extra: str):
    return parse_prompt(PROMPT.format(extra=extra), source="prompts/p.prompt", expected_name="p")


def test_excel_csv_with_a_byte_order_mark_keeps_its_expected_column() -> None:
    text = "\ufeff__expected,text\nPositive,great film\nNegative,dull\n"
    cases = parse_suite_texts([("datasets/s/cases.csv", text)])
    assert [c.expected for c in cases] == ["Positive", "Negative"]
    assert [c.vars for c in cases] == [{"text": "great film"}, {"text": "dull"}]


@pytest.mark.parametrize("name", ["cases.jsonl", "cases.yaml"])
def test_a_byte_order_mark_is_read_in_every_suite_format(name: str) -> None:
    text = '{"vars": {"text": "a"}, "expected": "x"}\n' if name.endswith("jsonl") else "- vars: {text: a}\n  expected: x\n"
    assert parse_suite_texts([(name, "\ufeff" + text)])[0].expected == "x"


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(8))


def test_a_yaml_alias_bomb_in_a_prompt_is_refused_quickly_with_its_line() -> None:
    start = time.process_time()
    with pytest.raises(PromptFileError) as info:
        prompt_with("tags: [a]\nx: &t [a, b]\ndescription: *t")
    assert "alias" in info.value.message and info.value.where == "prompts/p.prompt:6"
    bomb = "tags:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines())
    with pytest.raises(PromptFileError, match="alias"):
        prompt_with(bomb.rstrip())
    assert time.process_time() - start < 5  # generous: the bomb, expanded, took tens of seconds


def test_a_yaml_alias_bomb_in_a_suite_is_refused() -> None:
    with pytest.raises(SuiteError, match="alias") as info:
        parse_suite_texts([("datasets/s/cases.yaml", "cases:\n  - &c {vars: {text: a}}\n  - *c\n")])
    assert info.value.where == "datasets/s/cases.yaml:3"


def test_yaml_nested_thousands_of_levels_is_an_error_not_a_crash() -> None:
    with pytest.raises(SuiteError, match="nested"):
        parse_suite_texts([("datasets/s/cases.yaml", "[" * 5000 + "]" * 5000)])
    with pytest.raises(SuiteError, match="nested") as info:
        parse_suite_texts([("datasets/s/cases.jsonl", '{"vars": {}}\n' + "[" * 100_000 + "]" * 100_000)])
    assert info.value.where == "datasets/s/cases.jsonl:2"
    with pytest.raises(PromptFileError, match="nested"):
        prompt_with("tags: " + "[" * 5000 + "]" * 5000)


@pytest.mark.parametrize("key", ["api_base", "base_url", "api_key", "extra_headers", "aws_secret_access_key",
                                 "vertex_credentials", "my_auth_token", "custom_llm_provider"])
def test_a_prompt_may_not_name_an_endpoint_or_credentials(key: str) -> None:
    with pytest.raises(PromptFileError) as info:
        prompt_with(f"params: {{temperature: 0, {key}: http://attacker.example}}")
    assert key in info.value.message and "promptops.yaml" in (info.value.hint or "")
    assert info.value.where == "prompts/p.prompt:4"


def test_ordinary_params_still_pass() -> None:
    prompt = prompt_with("params: {temperature: 0, max_tokens: 8, top_p: 1, stop: ['\\n'], seed: 1}")
    assert prompt.params["max_tokens"] == 8


@pytest.mark.parametrize("suite", ["/etc/passwd", "../outside/cases.jsonl", "datasets/../../x"])
def test_a_suite_outside_the_repository_is_refused(suite: str) -> None:
    with pytest.raises(PromptFileError, match="leaves the repository") as info:
        prompt_with(f"suite: {suite}")
    assert info.value.where == "prompts/p.prompt:4"


def test_a_suite_symlinked_out_of_the_repository_is_refused(tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "cases.jsonl").write_text('{"vars": {"text": "secret"}}\n')
    root = tmp_path / "repo"
    (root / "datasets").mkdir(parents=True)
    (root / "datasets" / "s").symlink_to(outside)
    with pytest.raises(PromptFileError, match="leaves the repository"):
        parse_prompt(PROMPT.format(extra="suite: datasets/s"), source="prompts/p.prompt", root=root,
                     expected_name="p")


def test_a_lone_surrogate_in_a_suite_is_refused_with_its_line() -> None:
    text = '{"vars": {"text": "fine"}}\n{"vars": {"text": "cut \\ud83d"}}\n'
    with pytest.raises(SuiteError, match="surrogate") as info:
        parse_suite_texts([("datasets/s/cases.jsonl", text)])
    assert info.value.where == "datasets/s/cases.jsonl:2" and "vars.text" in info.value.message


def test_a_wrongly_typed_case_variable_names_the_suite_line() -> None:
    from promptops.suites import check_cases

    prompt = parse_prompt("---\nname: p\ninput: {n: integer}\n---\nuser:\n{{ n }}\n", source="prompts/p.prompt",
                          expected_name="p")
    cases = parse_suite_texts([("datasets/s/cases.jsonl", '{"vars": {"n": 1}}\n{"vars": {"n": "two"}}\n')])
    with pytest.raises(SuiteError, match="must be integer") as info:
        check_cases(cases, prompt)
    assert info.value.where == "datasets/s/cases.jsonl:2"


def test_a_duplicate_front_matter_key_is_refused_with_its_line() -> None:
    with pytest.raises(PromptFileError, match="duplicate key 'model'") as info:
        prompt_with("model: a\nmodel: b")
    assert info.value.where == "prompts/p.prompt:5"


@pytest.mark.parametrize("extra, fragment", [
    ("input:\n  text: {type: [string]}", "the type must be a name"),
    ("input:\n  1: string\n  text: string", "not a variable name"),
    ("input:\n  - text: string", "variable names only"),
    ("target: " + "9" * 5000, "more than 1,000 digits"),
    ("escalate: {window: abc}", "escalate.window"),
    ("escalate: {window: 0}", "escalate.window"),
    ("escalate: {delta: lots}", "escalate.delta"),
])
def test_malformed_front_matter_is_a_one_line_error(extra: str, fragment: str) -> None:
    with pytest.raises(PromptFileError, match=fragment) as info:
        parse_prompt(f"---\nname: p\n{extra}\n---\nuser:\n{{{{ text }}}}\n", source="prompts/p.prompt",
                     expected_name="p")
    assert info.value.where.startswith("prompts/p.prompt:")


@pytest.mark.parametrize("body, fragment", [
    ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "loops more than"),
    ("{% for i in range(100000) %}{% for j in range(100) %}xxxxxxxxxx{% endfor %}{% endfor %}", "characters"),
    ("{{ 'a' * 100000000 }}", "builds a value"),
    ("{{ 10 ** 100000 }}", "power"),
])
def test_rendering_is_bounded(body: str, fragment: str) -> None:
    from promptops.errors import RenderError

    prompt = parse_prompt(f"---\nname: p\n---\nuser:\n{body}\n", source="prompts/p.prompt", expected_name="p")
    start = time.process_time()
    with pytest.raises(RenderError, match=fragment) as info:
        prompt.render({})
    assert time.process_time() - start < 10 and info.value.where == "prompts/p.prompt:5"


def test_ordinary_loops_and_arithmetic_still_render() -> None:
    prompt = parse_prompt("---\nname: p\n---\nuser:\n{% for i in range(3) %}{{ i * 2 }}{% endfor %} {{ '-' * 3 }}\n",
                          source="prompts/p.prompt", expected_name="p")
    assert prompt.render({})[0]["content"] == "024 ---"


def test_init_starts_on_main_with_the_scaffold_committed(tmp_path, monkeypatch) -> None:
    import git

    from promptops.scaffold import init_project

    monkeypatch.setenv("HOME", str(tmp_path))  # no global identity
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Ada")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
    init_project(tmp_path / "a")
    repo = git.Repo(tmp_path / "a")
    assert repo.active_branch.name == "main"
    assert repo.head.commit.author.email == "ada@example.com"
    assert "prompts/sentiment.prompt" in {item.path for item in repo.head.commit.tree.traverse()}
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name)
    init_project(tmp_path / "b")  # who would the author be? git refuses to guess, and so do we
    repo = git.Repo(tmp_path / "b")
    assert not repo.head.is_valid() and "prompts/sentiment.prompt" in {e[0] for e in repo.index.entries}


def test_a_yaml_alias_bomb_in_the_config_is_refused(tmp_path) -> None:
    from promptops.config import load_config
    from promptops.errors import ConfigError

    (tmp_path / "promptops.yaml").write_text("models:\n" + "".join("  " + line + "\n" for line in BOMB.splitlines()))
    with pytest.raises(ConfigError, match="alias") as info:
        load_config(tmp_path)
    assert info.value.where.endswith("promptops.yaml:3")
