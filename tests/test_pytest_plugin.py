"""The fixtures of promptops.testing.pytest_plugin: the in-process CLI gives what the console script
gives, the fake server is fresh for every test, the project and the store work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from promptops.testing.project import capital_rules


def subprocess_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PROMPTOPS_ROOT"}
    return subprocess.run([sys.executable, "-m", "promptops.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_in_process_cli_matches_the_console_script(git_project, cli, monkeypatch):
    """Success, a library error (its one line), a usage error from click: exit codes and output alike."""
    monkeypatch.delenv("PROMPTOPS_ROOT", raising=False)
    for args, code in ((["list", "--json"], 0), (["show", "nosuch@HEAD"], 2), (["list", "--no-such-option"], 2),
                       (["--version"], 0)):
        here = cli(*args, cwd=git_project, code=None)
        there = subprocess_cli(git_project, *args)
        assert (here.exit_code, there.returncode) == (code, code), (args, here, there.stderr)
        assert here.stdout == there.stdout, args
        if code == 2 and args[0] == "show":
            assert here.stderr == there.stderr and here.stderr.startswith("error: ")
        elif code == 2:  # click names the program after argv[0]: "promptops" here, "python -m ..." there
            assert "No such option" in here.stderr and "No such option" in there.stderr
        assert here.exception is None and "Traceback" not in here.stderr + there.stderr


def test_cli_restores_cwd_argv_and_environment_and_forgets_the_root(git_project, tmp_path, cli, monkeypatch):
    monkeypatch.delenv("PROMPTOPS_ROOT", raising=False)
    monkeypatch.setenv("PROMPTOPS_TEST_MARK", "outer")
    cwd, argv = os.getcwd(), list(sys.argv)
    assert json.loads(cli("-C", str(git_project), "list", "--json").stdout)[0]["name"] == "capital"
    other = tmp_path / "other"
    (other / "prompts").mkdir(parents=True)
    # no -C this time: the project is found from the cwd, not remembered from the run before
    assert json.loads(cli("list", "--json", cwd=other, env={"PROMPTOPS_TEST_MARK": None}).stdout) == []
    assert (os.getcwd(), sys.argv, os.environ["PROMPTOPS_TEST_MARK"]) == (cwd, argv, "outer")


def test_cli_runs_an_eval_on_the_fake_server(git_project, fake_openai, cli):
    fake_openai.configure(rules=capital_rules({"Peru"}))
    result = cli("eval", "-q", "--json", "report.json", cwd=git_project, code=1)  # Peru fails: exit 1
    assert fake_openai.count() == 20
    report = json.loads((git_project / "report.json").read_text())
    assert "95.0%" in result.stdout and report


def chat(base_url: str, content: str, key: str = "k") -> str:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]}).encode()
    request = urllib.request.Request(f"{base_url}/chat/completions", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["choices"][0]["message"]["content"]


def test_fake_openai_1_changes_settings(fake_openai):
    fake_openai.configure(rules=capital_rules(), api_key="k", model_latency={"m": 0.01})
    assert chat(fake_openai.base_url, "What is the capital of France?") == "Paris"
    fake_openai.configure(rate_500=1.0)
    assert fake_openai.count() == 1


def test_fake_openai_2_is_back_at_the_defaults(fake_openai):
    """Runs after the test above (file order): nothing it set is left."""
    assert fake_openai.count() == 0
    assert (fake_openai.model_latency, fake_openai.api_key, fake_openai.rate_500) == ({}, None, 0.0)
    assert chat(fake_openai.base_url, "What is the capital of France?", key="") == \
        "What is the capital of France?"  # echo


def test_git_project_is_committed_and_its_model_is_the_fake_server(git_project, fake_openai):
    from promptops.config import load_config

    config = load_config(git_project)
    assert config.models["fake/a"].api_base == fake_openai.base_url
    assert (git_project / ".git").is_dir() and (git_project / "datasets" / "capital" / "cases.jsonl").is_file()


def test_store_is_migrated_and_empty(store):
    assert store.list_runs() == [] and store.list_api_keys() == []
    plain, key = store.create_api_key("read", "t")
    assert store.verify_api_key(plain).id == key.id


def test_a_log_handler_made_during_a_command_writes_to_the_real_stderr_after_it(cli, monkeypatch):
    import logging

    from promptops.cli import main as cli_main

    logger = logging.getLogger("promptops.test.plugin")

    def main():  # as a library imported for the first time inside a command would
        logger.addHandler(logging.StreamHandler())
        logger.warning("inside")

    monkeypatch.setattr(cli_main, "main", main)
    try:
        assert "inside" in cli("--version").stderr
        [handler] = logger.handlers
        assert handler.stream is sys.stderr
    finally:
        logger.handlers.clear()
