"""`promptops demo`'s set-up works from the installed package alone: no checkout of this repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptops.demo.project import CONFIG, DATA, VERSIONS, build_project
from promptops.errors import PromptopsError

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PROMPTOPS_ROOT": ""}


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "promptops.cli.main", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True)


def test_build_project_from_package_data_in_an_empty_folder(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nowhere near this repository's datasets/
    work = Path(".promptops/demo")
    shas = build_project(work, cases=14)
    assert len(shas) == len(VERSIONS)
    assert (work / "promptops.yaml").read_text() == CONFIG
    suite = (work / "datasets/snips-intent/cases.jsonl").read_text().splitlines()
    traffic = (work / "datasets/traffic/snips-intent.jsonl").read_text().splitlines()
    assert len(suite) == 14 and len(traffic) == 350 and (work / "datasets/ATTRIBUTION.md").is_file()
    assert "suite: datasets/snips-intent" in (work / "prompts/snips-intent.prompt").read_text()

    listed = cli(work, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["name"] for p in json.loads(listed.stdout)] == ["snips-intent"]
    log = cli(work, "log", "snips-intent")
    assert log.returncode == 0, log.stderr
    for message, _ in VERSIONS:
        assert message in log.stdout
    git_log = subprocess.run(["git", "log", "--format=%H"], cwd=work, capture_output=True, text=True).stdout.split()
    assert git_log == shas[::-1]

    again = build_project(work)  # a folder the demo made is replaced, with the whole suite this time
    assert again != shas and len((work / "datasets/snips-intent/cases.jsonl").read_text().splitlines()) == 140


def test_build_project_refuses_to_delete_a_folder_it_did_not_make(tmp_path: Path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(PromptopsError, match="was not made by the demo"):
        build_project(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    build_project(tmp_path / "empty")  # an empty folder is fine


def test_packaged_data_is_the_repository_datasets():
    """promptops/demo/data is a copy of datasets/ (what scripts/build_datasets.py writes): kept in step."""
    for path in ("snips-intent/cases.jsonl", "traffic/snips-intent.jsonl"):
        assert DATA.joinpath(path).read_bytes() == (REPO / "datasets" / path).read_bytes()
    assert "CC0" in DATA.joinpath("ATTRIBUTION.md").read_text()


def test_demo_scratch_project_goes_under_the_current_folder_outside_a_project(tmp_path: Path, monkeypatch):
    import promptops.demo
    from promptops.cli import common
    from promptops.cli.main import app

    calls = []
    monkeypatch.setattr(promptops.demo, "run_demo", lambda **kw: calls.append(kw))
    monkeypatch.setenv("PROMPTOPS_ROOT", "")
    monkeypatch.chdir(tmp_path)
    common.close()
    result = CliRunner().invoke(app, ["demo", "--quick"])
    common.close()
    assert result.exit_code == 0, result.output
    assert calls[0]["workdir"] == tmp_path.resolve() / ".promptops" / "demo" and calls[0]["quick"] is True
