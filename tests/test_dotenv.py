"""`.env` in the project root: the parser, load_config's PROMPTOPS_* settings, provider keys."""

from __future__ import annotations

import os

import pytest

from promptops._util.dotenv import DotenvError, parse
from promptops.config import load_config
from promptops.errors import ConfigError
from promptops.testing.project import capital_rules, make_project


def test_the_common_format():
    text = (
        "\ufeff# a comment\n"
        "\n"
        "PLAIN=value with spaces   # a comment after it\n"
        "export EXPORTED=1\n"
        "HASH=a#b\n"
        "SINGLE='literal $x \\n # not a comment'\n"
        'DOUBLE="tab\\there \\"quoted\\" ${PLAIN}"\n'
        'MULTI="line one\n'
        'line two"\n'
        "EMPTY=\n"
        "REF=${FROM_ENV}-${MISSING:-fallback}\n"
    )
    values = parse(text, {"FROM_ENV": "env"})
    assert values == {"PLAIN": "value with spaces", "EXPORTED": "1", "HASH": "a#b",
                      "SINGLE": "literal $x \\n # not a comment", "DOUBLE": 'tab\there "quoted" value with spaces',
                      "MULTI": "line one\nline two", "EMPTY": "", "REF": "env-fallback"}


@pytest.mark.parametrize("text, line, words", [
    ("OK=1\nzq9secret\n", 2, "expected KEY=value"),
    ("1BAD=zq9secret\n", 1, "a key is letters"),
    ("A=1\nB='zq9secret\nC=3\n", 2, "never closed"),
    ('A="x" zq9secret\n', 1, "text after the closing"),
])
def test_bad_lines_are_refused_with_their_number_and_no_value(text, line, words):
    with pytest.raises(DotenvError) as info:
        parse(text, {})
    assert info.value.line == line and words in str(info.value)
    assert "zq9secret" not in str(info.value)


def test_dotenv_feeds_the_promptops_settings_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMPTOPS_WORKERS", raising=False)
    monkeypatch.delenv("PROMPTOPS_RETRY_BACKOFF", raising=False)
    (tmp_path / ".env").write_text("PROMPTOPS_WORKERS=3\nPROMPTOPS_RETRY_BACKOFF=0.25\n")
    config = load_config(tmp_path)
    assert (config.workers, config.retry_backoff) == (3, 0.25)
    assert "PROMPTOPS_WORKERS" not in os.environ  # settings are read, not exported
    monkeypatch.setenv("PROMPTOPS_WORKERS", "5")
    assert load_config(tmp_path).workers == 5
    (tmp_path / ".env").write_text("PROMPTOPS_WORKERS=many\n")
    monkeypatch.delenv("PROMPTOPS_WORKERS")
    with pytest.raises(ConfigError, match="PROMPTOPS_WORKERS: must be an integer"):
        load_config(tmp_path)


def test_a_bad_dotenv_is_exit_2_naming_file_and_line(tmp_path, cli):
    (tmp_path / "prompts").mkdir()
    (tmp_path / ".env").write_text("# keys\nOPENAI_API_KEY sk-not-shown\n")
    out = cli("list", cwd=tmp_path, code=2)
    assert f"{tmp_path / '.env'}:2" in out.stderr and "sk-not-shown" not in out.stderr
    (tmp_path / ".env").write_text("PROMPTOPS_ROOT=/elsewhere\n")
    assert "PROMPTOPS_ROOT cannot be set in .env" in cli("list", cwd=tmp_path, code=2).stderr


def test_a_provider_key_in_dotenv_reaches_the_call_and_no_output(tmp_path, fake_openai, cli, monkeypatch):
    monkeypatch.delenv("CAPITAL_KEY", raising=False)  # restored (unset) after the test
    root = make_project(tmp_path / "repo", fake_openai.base_url, key_env="CAPITAL_KEY", countries=["France", "Peru"])
    fake_openai.configure(rules=capital_rules(), api_key="sekret-from-dotenv")
    (root / ".env").write_text("CAPITAL_KEY=sekret-from-dotenv\n")
    out = cli("eval", "--json", "r.json", cwd=root)
    assert "100.0%" in out.stdout and fake_openai.count() == 2
    assert "sekret-from-dotenv" not in out.output + (root / "r.json").read_text()
    monkeypatch.setenv("CAPITAL_KEY", "wrong-key-from-shell")  # the environment wins
    cli("eval", "-q", "--no-cache", cwd=root, code=1)


def test_init_keeps_dotenv_out_of_git(tmp_path, cli):
    cli("init", "proj", cwd=tmp_path)
    assert ".env" in (tmp_path / "proj" / ".gitignore").read_text().split()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / ".gitignore").write_text(".promptops/\nbuild/\n")
    cli("init", "old", cwd=tmp_path)
    assert (tmp_path / "old" / ".gitignore").read_text() == ".promptops/\nbuild/\n.env\n"
