"""Probes of the command line (issue "Reliability and security", items 6, 7, 15): one-line errors
with the file, never a traceback; a results database that holds its data after the fast exit."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


def _one_line_error(result, *fragments: str) -> None:
    output = result.stdout + result.stderr
    assert result.exit_code == 2 and result.exception is None, output
    assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    for fragment in fragments:
        assert fragment in output, output


def test_a_non_utf8_config_is_a_one_line_error(git_project, cli) -> None:
    (git_project / "promptops.yaml").write_bytes(b"default_model: \xff\xfe\n")
    _one_line_error(cli("list", cwd=git_project, code=None), "promptops.yaml", "UTF-8")


def test_a_directory_named_promptops_yaml_is_refused(tmp_path, cli) -> None:
    (tmp_path / "promptops.yaml").mkdir()
    (tmp_path / "prompts").mkdir()
    _one_line_error(cli("list", cwd=tmp_path, code=None), "promptops.yaml is not a file")


@pytest.mark.parametrize("content, fragment", [(b"country: \xff\n", "codec"),
                                                (b"country: " + b"9" * 5000 + b"\n", "digits")])
def test_a_bad_vars_file_is_a_one_line_error(git_project, cli, tmp_path, content, fragment) -> None:
    (tmp_path / "vars.yaml").write_bytes(content)
    _one_line_error(cli("render", "capital", "--vars-file", tmp_path / "vars.yaml", cwd=git_project, code=None),
                    "vars.yaml", fragment)


def test_state_dir_on_a_device_is_a_one_line_error(git_project, cli) -> None:
    with (git_project / "promptops.yaml").open("a") as f:
        f.write("\nstate_dir: /dev/null\n")
    _one_line_error(cli("deployments", cwd=git_project, code=None), "/dev/null", "state_dir")


def _database(project: Path, cli) -> Path:
    cli("deployments", cwd=project)
    from promptops.config import load_config

    return Path(load_config(project).db_url().split("///", 1)[1])


def test_a_database_at_an_unknown_migration_is_a_one_line_error(git_project, cli) -> None:
    from promptops.store import db

    path = _database(git_project, cli)
    db.dispose_engines()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'ffff99990000'")
    _one_line_error(cli("deployments", cwd=git_project, code=None), "ffff99990000", "newer promptops")


def test_a_truncated_database_is_a_one_line_error(git_project, cli) -> None:
    from promptops.store import db

    path = _database(git_project, cli)
    db.dispose_engines()
    data = path.read_bytes()
    for side in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        side.unlink(missing_ok=True)
    path.write_bytes(data[: len(data) // 3])
    _one_line_error(cli("deployments", cwd=git_project, code=None), path.name)


def test_promote_outside_git_says_there_is_no_repository(tmp_path, git_project, cli) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(git_project, plain, ignore=shutil.ignore_patterns(".git", ".promptops"))
    result = cli("promote", "capital", "--to", "production", cwd=plain, code=None)
    _one_line_error(result, "not a git repository")
    assert "commit prompts/capital.prompt first" not in result.stderr


def test_the_results_database_holds_the_eval_after_the_fast_exit(git_project) -> None:
    """The console script leaves with os._exit once litellm is loaded: the WAL must be checkpointed
    first, so the workflow's artifact (the .db file alone) holds the run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    code = "import sys; from promptops.cli.main import entry; sys.argv = ['promptops', 'eval', 'capital']; entry()"
    done = subprocess.run([sys.executable, "-c", code], cwd=git_project, env=env, capture_output=True, text=True, check=False,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    state = git_project / ".promptops"
    (db_file,) = state.glob("*.db")
    wal = db_file.with_name(db_file.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    copy = git_project.parent / "artifact.db"
    shutil.copyfile(db_file, copy)  # what upload-artifact takes: the file, not its WAL
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT count(*) FROM eval_runs").fetchone()[0] >= 1
