"""The CLI end to end on a real temporary git repository: init, list, log, show, diff, render, errors.

The commands run in this process (the ``cli`` fixture); tests/test_pytest_plugin.py checks that
they give the exit codes and output of the console script in a subprocess."""

import json
from pathlib import Path

import pytest

from promptops.testing.project import git


@pytest.fixture(autouse=True)
def _root_from_cwd(monkeypatch):
    monkeypatch.delenv("PROMPTOPS_ROOT", raising=False)  # each command finds its project from the cwd


@pytest.fixture()
def project(tmp_path: Path, cli) -> Path:
    cli("init", ".", cwd=tmp_path)
    git(tmp_path, "config", "user.email", "t@example.com")
    git(tmp_path, "config", "user.name", "Tester")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "first version", "--allow-empty")  # init committed when git knows the user
    path = tmp_path / "prompts" / "sentiment.prompt"
    path.write_text(path.read_text().replace("Answer with one word", "Reply with exactly one word"))
    git(tmp_path, "commit", "-qam", "stricter instruction")
    return tmp_path


def test_init_writes_a_working_project(tmp_path: Path, cli):
    out = cli("init", "proj", cwd=tmp_path).stdout
    for name in ("promptops.yaml", "prompts/sentiment.prompt", "datasets/sentiment/cases.jsonl",
                 ".gitignore", ".github/workflows/promptops.yml"):
        assert (tmp_path / "proj" / name).is_file(), name
        assert name in out
    assert (tmp_path / "proj" / ".git").is_dir()
    again = cli("init", "proj", cwd=tmp_path, code=2)
    assert "already exists" in again.stderr and "Traceback" not in again.stderr


def test_list_log_show_diff_render(project: Path, cli):
    rows = json.loads(cli("list", "--json", cwd=project).stdout)
    assert rows[0]["name"] == "sentiment" and rows[0]["cases"] == 6 and rows[0]["target"] == 0.8
    versions = json.loads(cli("log", "sentiment", "--json", cwd=project).stdout)
    assert len(versions) == 2 and not versions[0]["working_tree"]
    assert versions[0]["commits"][0]["message"] == "stricter instruction"
    old = versions[1]["version"]
    shown = json.loads(cli("show", f"sentiment@{old[:6]}", "--json", cwd=project).stdout)
    assert shown["version"] == old
    assert "Answer with one word" in shown["messages"][0]["template"]
    assert json.loads(cli("show", "sentiment@HEAD~1", "--json", cwd=project).stdout)["version"] == old
    diff = cli("diff", f"sentiment@{old}", "sentiment@HEAD", cwd=project).stdout
    assert "-You classify" in diff and "+You classify" in diff and "Reply with exactly" in diff
    rendered = json.loads(cli("render", "sentiment", "--var", "review=so good", "--json", cwd=project).stdout)
    assert rendered[-1] == {"role": "user", "content": "so good"}
    assert "so good" in cli("render", "sentiment", "-v", "review=so good", cwd=project).stdout
    table = cli("list", cwd=project).stdout
    assert "sentiment" in table and rows[0]["version"] in table


def test_working_tree_edit_shows_as_a_version(project: Path, cli):
    path = project / "prompts" / "sentiment.prompt"
    path.write_text(path.read_text().replace("exactly one word", "a single word"))
    versions = json.loads(cli("log", "sentiment", "--json", cwd=project).stdout)
    assert versions[0]["working_tree"] and len(versions) == 3


BAD_FILES = {
    "bad YAML": ("---\nname: sentiment\nparams: {temperature: 0\n---\nuser:\nhi\n", ":3"),
    "unknown key": ("---\nname: sentiment\nflavour: x\n---\nuser:\nhi\n", ":3"),
    "missing body": ("---\nname: sentiment\n---\n", ":4"),
    "unknown role": ("---\nname: sentiment\n---\nbot:\nhi\n", ":4"),
    "template error": ("---\nname: sentiment\n---\nuser:\n{% if %}\n", ":5"),
    "undeclared var": ("---\nname: sentiment\n---\nuser:\n{{ review }}\n", ":5"),
    "missing suite": ("---\nname: sentiment\nsuite: datasets/nope\n---\nuser:\nhi\n", ":3"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_files_exit_2_with_one_line(project: Path, kind: str, cli):
    text, line = BAD_FILES[kind]
    (project / "prompts" / "sentiment.prompt").write_text(text)
    proc = cli("list", cwd=project, code=2)
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"prompts/sentiment.prompt{line}" in err


def test_bad_refs_and_vars_exit_2(project: Path, cli):
    for args, fragment in ((["show", "sentiment@nosuchref"], "nosuchref"),
                           (["show", "nosuch"], "nosuch"),
                           (["render", "sentiment"], "missing variable 'review'"),
                           (["render", "sentiment", "-v", "review=x", "-v", "extra=1"], "unknown variable")):
        proc = cli(*args, cwd=project, code=2)
        assert fragment in proc.stderr and "Traceback" not in proc.stderr


def test_every_command_is_listed_with_its_own_help_line():
    """`promptops --help` lists commands from a table without importing them: the table must hold
    every command the modules register, each with the first line of that command's own help."""
    import typer

    from promptops.cli import main

    registered: dict[str, str] = {}
    for module_name in sorted({module for module, _ in main.COMMANDS.values()}):
        group = typer.main.get_group(_registered(module_name))
        for name, command in group.commands.items():
            registered[name] = " ".join((command.help or "").split("\n\n")[0].split())
    assert {name: help_line for name, (_, help_line) in main.COMMANDS.items()} == registered


def _registered(module_name: str):
    import importlib

    import typer

    app = typer.Typer()
    importlib.import_module(f"promptops.cli.{module_name}").register(app)
    return app


def test_help_and_version_import_no_library_code():
    import subprocess
    import sys

    code = ("import sys; sys.argv = ['promptops', '--help']\n"
            "from promptops.cli import main\n"
            "try:\n    main.main()\nexcept SystemExit:\n    pass\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('promptops.') and not m.startswith('promptops.cli'))\n"
            "print(','.join(loaded))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out.splitlines()[-1] == "promptops.errors"


def test_a_gguf_conversion_bar_stays_off_the_cli_output():
    """transformers de-quantizes a GGUF file under a bare ``tqdm.auto`` bar (its own progress switch
    does not reach it); the CLI switches tqdm off before any library imports it."""
    import os
    import subprocess
    import sys

    code = ("import promptops.cli.session\n"
            "from tqdm.auto import tqdm\n"
            "bar = tqdm(range(3), desc='Converting and de-quantizing GGUF tensors...')\n"
            "list(bar); print(bar.disable)")
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert run.stdout.strip() == "True"
    assert "de-quantizing" not in run.stderr
