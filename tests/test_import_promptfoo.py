"""``promptops import promptfoo``: promptfoo-format configs (written here, one per shape) become
native prompts, a suite and models that a plain ``promptops eval`` runs with promptfoo's verdicts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from promptops.config import load_config
from promptops.errors import ConfigError
from promptops.eval.evaluate import evaluate
from promptops.importers import import_promptfoo
from promptops.suites import load_suite

SECRET = "sk-live-DO-NOT-COPY-4242"
CONFIG = """
description: Greeting suite
prompts:
  - "Say hello to {{ name }} in {{ language }}."
  - file://prompts/greet.txt
  - id: file://prompts/chat.json
    label: chat
  - '[{"role": "system", "content": "Greet in {{ language }}."}, {"role": "user", "content": "{{ name }}"}]'
  - file://prompts/fn.py:make_prompt
providers:
  - echo
  - id: openai:chat:gpt-test
    label: fake
    config:
      apiBaseUrl: %(base_url)s
      apiKey: "{{ env.FAKE_PF_KEY }}"
      temperature: 0
      max_tokens: 50
    prompts: [chat]
  - id: anthropic:messages:claude-x
    config: {apiKey: %(secret)s, top_p: 0.9}
    prompts: [never-bound]
  - exec:python run.py
defaultTest:
  vars: {language: French}
  assert:
    - type: icontains
      value: "{{ language }}"
      metric: language
  options:
    transform: output.trim()
tests:
  - description: two names
    vars: {name: [Ada, Bob]}
    assert:
      - {type: contains, value: "{{ name }}", weight: 2}
      - {type: word-count, value: {min: 1, max: 40}}
  - description: needs a judge
    vars: {name: Cy}
    assert:
      - {type: llm-rubric, value: is friendly}
  - vars: {name: Di}
    threshold: 0.5
    assert:
      - {type: javascript, value: "output.length > 1"}
      - {type: not-contains, value: Zed}
  - file://tests/more.csv
  - file://tests/extra.jsonl
  - file://tests/extra.yaml
  - file://tests/extra.json
redteam:
  plugins: [pii]
"""
FILES = {
    "prompts/greet.txt": "Hello {{ name }}! ({{ language }})\n---\nBye {{ name }}.\n",
    "prompts/chat.json": json.dumps([{"role": "system", "content": "Reply in {{ language }}."},
                                     {"role": "user", "content": "Hi, I am {{ name }}"}]),
    "prompts/fn.py": "def make_prompt(context):\n    return 'x'\n",
    "tests/more.csv": "\ufeffname,__expected,__expected2,__description\nEve,contains:Eve,grade:is polite,csv eve\n"
                      "Fay,icontains:FAY,,csv fay\n",
    "tests/extra.jsonl": json.dumps({"vars": {"name": "Gus"}, "assert": [{"type": "regex", "value": "G.s"}]}) + "\n",
    "tests/extra.yaml": yaml.safe_dump([{"vars": {"name": "Hal", "language": "German"},
                                        "assert": [{"type": "icontains", "value": "german"}]}]),
    "tests/extra.json": json.dumps([{"vars": {"name": "Ivy"}, "assert": [{"type": "starts-with", "value": "Say"}]}]),
}


@pytest.fixture()
def promptfoo_dir(tmp_path: Path, fake_openai) -> Path:
    src = tmp_path / "pf"
    for rel, text in FILES.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text, encoding="utf-8")
    (src / "promptfooconfig.yaml").write_text(CONFIG % {"base_url": fake_openai.base_url, "secret": SECRET})
    return src


def test_every_shape_is_imported_and_the_rest_is_listed(promptfoo_dir, tmp_path):
    out = tmp_path / "proj"
    result = import_promptfoo(promptfoo_dir / "promptfooconfig.yaml", out)
    assert result.prompts == ["prompt-1", "greet-1", "greet-2", "chat", "prompt-4"]
    assert result.models == ["echo", "fake", "anthropic/claude-x"]
    skipped = "\n".join(result.not_imported)
    for what in ("config key 'redteam'", "fn.py: a prompt function", "exec:python run.py", "llm-rubric: model-graded",
                 "javascript: JavaScript", "more.csv[0]: llm-rubric", "tests[1]: llm-rubric"):
        assert what in skipped, what
    report = (out / "promptfoo-import.md").read_text()
    assert all(line in report for line in result.not_imported)
    # never the key itself: the variable it came from, or a name to set
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(), path
    config = yaml.safe_load((out / "promptops.yaml").read_text())
    assert config["models"]["fake"] == {"model": "openai/gpt-test", "api_base": config["models"]["fake"]["api_base"],
                                        "api_key_env": "FAKE_PF_KEY", "params": {"temperature": 0, "max_tokens": 50}}
    assert config["models"]["anthropic/claude-x"]["api_key_env"] == "PROMPTOPS_ANTHROPIC_CLAUDE_X_API_KEY"
    assert result.env_to_set == ["PROMPTOPS_ANTHROPIC_CLAUDE_X_API_KEY"]
    chat = (out / "prompts" / "chat.prompt").read_text()
    assert "models:\n- echo\n- fake\n" in chat and "system:\nReply in {{ language }}." in chat
    cases = load_suite(out / "datasets" / "greeting-suite.yaml")
    by_name = {c.vars["name"]: c for c in cases}
    assert set(by_name) == {"Ada", "Bob", "Cy", "Di", "Eve", "Fay", "Gus", "Hal", "Ivy"}
    assert by_name["Ada"].id != by_name["Bob"].id and by_name["Bob"].vars["language"] == "French"
    assert by_name["Hal"].vars["language"] == "German"
    assert by_name["Ada"].asserts[0]["value"] == "{{ vars.language }}"
    assert by_name["Ada"].asserts[1] == {"type": "contains", "value": "{{ vars.name }}", "weight": 2}
    assert by_name["Ada"].options == {"transform": "output | trim"}
    assert by_name["Di"].tags == ["import-partial"] and by_name["Eve"].tags == ["import-partial"]
    assert by_name["Cy"].tags == ["import-partial"] and by_name["Ada"].tags == []  # Cy keeps defaultTest's check


def test_a_plain_eval_gives_promptfoos_verdicts(promptfoo_dir, tmp_path, fake_openai, cli, monkeypatch):
    out = tmp_path / "proj"
    cli("import", "promptfoo", promptfoo_dir / "promptfooconfig.yaml", "--out", out)
    fake_openai.configure(rules={"*": [(r"I am (\w+)", "Bonjour \\1 !")]})
    monkeypatch.setenv("FAKE_PF_KEY", "test-key")
    report = evaluate(load_config(out), ["prompt-1", "greet-2", "chat"])
    verdicts = {(s.prompt, s.model): {r.vars["name"]: r.passed for r in s.results} for s in report.summaries}
    # echo answers with the prompt: "Say hello to <name> in <language>."
    assert verdicts[("prompt-1", "echo")] == {"Ada": True, "Bob": True, "Cy": True, "Di": True, "Eve": True,
                                              "Fay": True, "Gus": True, "Hal": True, "Ivy": True}
    # "Bye <name>." names no language, fails every case (the default assertion is on language),
    # except Di's: its threshold 0.5 is met by not-contains Zed (score 1) beside icontains (0), as in promptfoo
    greet = verdicts[("greet-2", "echo")]
    assert greet.pop("Di") is True and set(greet.values()) == {False}
    # the fake model answers "Bonjour <name> !": no "French" in it either, except Hal's check is "german"
    chat_fake = verdicts[("chat", "fake")]
    assert chat_fake.pop("Di") is True and set(chat_fake.values()) == {False}
    assert fake_openai.count(model="gpt-test") == 9
    chat_echo = verdicts[("chat", "echo")]  # the echoed chat is JSON: holds the names and "French"
    assert chat_echo["Ivy"] is False and chat_echo["Ada"] is True  # starts-with "Say" fails on JSON


def test_cli_prints_what_was_not_imported_and_refuses_to_overwrite(promptfoo_dir, tmp_path, cli):
    out = tmp_path / "proj"
    first = cli("import", "promptfoo", promptfoo_dir / "promptfooconfig.yaml", "--out", out)
    assert "not imported (" in first.stdout and "config key 'redteam'" in first.stdout
    assert "set PROMPTOPS_ANTHROPIC_CLAUDE_X_API_KEY" in first.stdout
    again = cli("import", "promptfoo", promptfoo_dir / "promptfooconfig.yaml", "--out", out, code=2)
    assert "already exists" in again.stderr + again.stdout
    cli("import", "promptfoo", promptfoo_dir / "promptfooconfig.yaml", "--out", out, "--force")


def test_existing_promptops_yaml_keeps_its_text_and_gains_models(promptfoo_dir, tmp_path):
    out = tmp_path / "proj"
    out.mkdir()
    original = "# my settings\ndefault_model: echo\nmodels:\n    mine:   # keep me\n        model: openai/x\n"
    (out / "promptops.yaml").write_text(original)
    import_promptfoo(promptfoo_dir / "promptfooconfig.yaml", out)
    text = (out / "promptops.yaml").read_text()
    assert "# my settings" in text and "# keep me" in text
    models = yaml.safe_load(text)["models"]
    assert set(models) == {"mine", "fake", "anthropic/claude-x"} and models["mine"] == {"model": "openai/x"}


def test_bad_configs_are_errors_naming_the_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        import_promptfoo(tmp_path / "nope.yaml", tmp_path)
    cfg = tmp_path / "promptfooconfig.yaml"
    cfg.write_text("prompts: [file://missing.txt]\nproviders: [echo]\ntests: [{vars: {a: 1}}]\n")
    with pytest.raises(ConfigError, match="missing.txt") as info:
        import_promptfoo(cfg, tmp_path / "out")
    assert info.value.exit_code == 2
    cfg.write_text("prompts: ['{{ a }}']\nproviders: [echo]\ntests: [{vars: {a: file://gone.txt}}]\n")
    with pytest.raises(ConfigError, match="gone.txt"):
        import_promptfoo(cfg, tmp_path / "out")
    cfg.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="YAML mapping"):
        import_promptfoo(cfg, tmp_path / "out")


def test_file_vars_are_read_and_csv_metrics_and_thresholds_are_kept(tmp_path):
    (tmp_path / "doc.txt").write_text("The body text.")
    (tmp_path / "data.json").write_text('{"k": [1, 2]}')
    (tmp_path / "t.csv").write_text("q,__expected,__metric,__threshold\nhi,similar(0.7):hello,tone,0.5\n"
                                    "yo,not-contains:bad,tone,\n")
    cfg = tmp_path / "promptfooconfig.yaml"
    cfg.write_text("prompts: ['{{ doc }} {{ q }} {{ data.k }}']\nproviders: [echo]\n"
                   "defaultTest: {vars: {doc: file://doc.txt, data: file://data.json}}\ntests: file://t.csv\n")
    result = import_promptfoo(cfg, tmp_path / "out")
    cases = load_suite(tmp_path / "out" / "datasets" / "promptfoo.yaml")
    assert [c.vars["q"] for c in cases] == ["yo"]  # "hi" had only a model-graded check
    assert cases[0].vars["doc"] == "The body text." and cases[0].vars["data"] == {"k": [1, 2]}
    spec = cases[0].asserts[0]
    assert spec["type"] == "not-contains" and ("tone" in json.dumps(spec))
    assert any("similar" in line for line in result.not_imported)
    prompt = (tmp_path / "out" / "prompts" / "prompt-1.prompt").read_text()
    assert "data: object" in prompt and "doc: string" in prompt
