"""`promptops eval` as a CI job and a person use it: exit codes, case selection (stored as partial
runs that no score reader takes), the failing cases and errors after the table, 80 columns, the bar."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from promptops.config import load_config
from promptops.deploy.gate import gate_score
from promptops.escalate.plateau import version_scores
from promptops.eval.select import Selection
from promptops.project import Project
from promptops.suites import Case
from promptops.testing.project import CAPITALS, capital_rules

SUITE = "datasets/capital/cases.jsonl"


def runs(root: Path) -> list:
    with Project.load(root) as project:
        return project.store.list_runs(prompt="capital")


def test_exit_code_is_1_when_a_case_fails_and_the_failing_case_is_shown(git_project, fake_openai, cli):
    fake_openai.configure(rules=capital_rules({"Peru"}))
    out = cli("eval", cwd=git_project, code=1)
    assert "1 failed of 20 results" in out.stderr and "--fail-under" in out.stderr
    text = out.stdout
    assert "failing: capital on fake/a (1 of 20)" in text
    assert '"country": "Peru"' in text and "output: Atlantis" in text and "expected 'Lima'" in text
    fake_openai.configure(rules=capital_rules())
    assert "failing:" not in cli("eval", "--no-cache", cwd=git_project, code=0).stdout


def test_fail_under_gates_on_accuracy_and_takes_a_fraction_only(git_project, fake_openai, cli):
    fake_openai.configure(rules=capital_rules({"Peru"}))  # 95 %
    cli("eval", "-q", "--fail-under", "0.9", cwd=git_project, code=0)
    low = cli("eval", "-q", "--fail-under", "0.96", cwd=git_project, code=1)
    assert "below --fail-under 96.0%: capital on fake/a 95.0%" in low.stderr
    for given, hint in (("90", "--fail-under 0.9"), ("95%", "--fail-under 0.95"), ("lots", "0..1")):
        bad = cli("eval", "-q", "--fail-under", given, cwd=git_project, code=2)
        assert "fraction 0..1" in bad.stderr or "not a number" in bad.stderr
        assert hint in bad.stderr
    assert fake_openai.count() == 20  # the refused runs called nothing


def test_errors_exit_1_and_are_grouped_by_cause(tmp_path, fake_openai, cli):
    from promptops.testing.project import make_project

    root = make_project(tmp_path / "repo", fake_openai.base_url, countries=["France", "Spain", "Peru"],
                        extra_config={"max_retries": 0})
    fake_openai.configure(rules=capital_rules(), rate_500=1.0)
    out = cli("eval", cwd=root, code=1)
    assert "3 errored of 3 results" in out.stderr
    assert "errors (3), by cause:" in out.stdout
    group = out.stdout.split("errors (3), by cause:")[1]
    assert group.count(" × ") == 1 and "3 × " in group  # one cause, numbers in it do not split it
    assert "capital/fake/a/" in group


def test_filter_tag_max_cases_and_sample_select_cases(git_project, fake_openai, cli):
    suite = git_project / SUITE
    rows = [json.loads(line) for line in suite.read_text().splitlines()]
    for row in rows:
        if row["id"] in ("peru", "chile"):
            row["tags"] = ["south-america"]
        if row["id"] == "japan":
            row["description"] = "an island nation"
    suite.write_text("".join(json.dumps(r) + "\n" for r in rows))

    def ran(*args: str) -> set[str]:
        cli("eval", "-q", "--json", "r.json", *args, cwd=git_project)
        report = json.loads((git_project / "r.json").read_text())
        return {r["case_id"] for s in report["results"] for r in s["results"]}

    assert ran("--filter", "^(peru|spain)$") == {"peru", "spain"}  # the id
    assert ran("--filter", "island") == {"japan"}  # the description
    assert ran("--filter", '"Nor') == {"norway"}  # the vars, as JSON
    assert ran("--tag", "south-america") == {"peru", "chile"}
    assert len(ran("--max-cases", "3")) == 3
    first, again, other = ran("--sample", "5", "--seed", "1"), ran("--sample", "5", "--seed", "1"), \
        ran("--sample", "5", "--seed", "2")
    assert len(first) == 5 and first == again and first != other
    assert ran("--tag", "south-america", "--max-cases", "1") == {"peru"}  # suite order: peru before chile
    report = json.loads((git_project / "r.json").read_text())
    assert report["partial"] == ["capital"] and report["selection"] == {"tags": ["south-america"], "max_cases": 1}
    none = cli("eval", "-q", "--filter", "^atlantis$", cwd=git_project, code=2)
    assert "no case matches the selection" in none.stderr
    assert "not a regular expression" in cli("eval", "-q", "--filter", "(", cwd=git_project, code=2).stderr
    assert "at least 1" in cli("eval", "-q", "--max-cases", "0", cwd=git_project, code=2).stderr


def test_metadata_counts_as_tags():
    from promptops.eval.select import case_tags

    case = Case(id="a", vars={}, tags=["x"])
    case.metadata = {"team": "billing"}  # promptfoo's __metadata:team column (suites may carry it)
    assert case_tags(case) == {"x", "team", "team=billing"}
    assert Selection(tags=["team=billing"]).apply([case, Case(id="b", vars={})]) == [case]


def test_failing_reruns_what_failed_last_time(git_project, fake_openai, cli):
    missing = cli("eval", "-q", "--failing", cwd=git_project, code=2)
    assert "no stored eval of capital" in missing.stderr
    fake_openai.configure(rules=capital_rules({"Peru", "Chile"}))
    cli("eval", "-q", cwd=git_project, code=1)
    fake_openai.reset()
    fake_openai.configure(rules=capital_rules({"Chile"}))  # Peru is fixed now
    cli("eval", "-q", "--failing", "--no-cache", "--json", "r.json", cwd=git_project, code=1)
    assert fake_openai.count() == 2
    report = json.loads((git_project / "r.json").read_text())
    assert {r["case_id"]: r["pass"] for r in report["results"][0]["results"]} == {"peru": True, "chile": False}
    # the latest result of each case counts: Peru passed in the partial run, so only Chile is left
    fake_openai.reset()
    cli("eval", "-q", "--failing", "--no-cache", cwd=git_project, code=1)
    assert fake_openai.count() == 1


def test_a_partial_run_is_never_a_score(git_project, fake_openai, cli):
    fake_openai.configure(rules=capital_rules())
    out = cli("eval", "--filter", "^(peru|spain)$", "--markdown", "r.md", cwd=git_project)  # 100 % on two cases
    assert "**Partial run** of capital" in (git_project / "r.md").read_text()
    assert "partial run (--filter ^(peru|spain)$): capital 2/20 cases" in out.stdout
    (run,) = runs(git_project)
    assert run.status == "partial" and run.summary["fake/a"]["total"] == 2
    config = load_config(git_project)
    with Project.load(git_project) as project:
        prompt = project.history.resolve("capital").prompt
        assert gate_score(config, prompt, "fake/a", store=project.store) is None
    assert version_scores(runs(git_project), "fake/a", None) == []
    refused = cli("promote", "capital", "--to", "production", cwd=git_project, code=1)
    assert "has no eval on fake/a" in refused.stderr
    cli("eval", "-q", "--max-cases", "100", cwd=git_project)  # every case selected: a full run
    assert runs(git_project)[0].status == "finished"
    cli("promote", "capital", "--to", "production", cwd=git_project)


def test_the_dashboard_scores_skip_partial_runs(git_project, fake_openai, cli):
    from fastapi.testclient import TestClient

    from promptops.server import create_app

    fake_openai.configure(rules=capital_rules({"Peru"}))
    cli("eval", "-q", cwd=git_project, code=1)  # 95 % on the whole suite
    cli("eval", "-q", "--filter", "^spain$", cwd=git_project)  # 100 % on one case: partial
    with TestClient(create_app(load_config(git_project))) as client:
        home = client.get("/").text
    assert "95.0%" in home and "100.0%" not in home


def test_tables_fit_80_columns(tmp_path, fake_openai, cli):
    from promptops.testing.project import make_project

    root = make_project(tmp_path / "repo", fake_openai.base_url, models=["fake/gpt-4o-mini-long-name", "fake/b"],
                        countries=["France", "Peru"])
    fake_openai.configure(rules=capital_rules({"Peru"}))
    out = cli("eval", "--repeat", "2", cwd=root, env={"COLUMNS": "80"}, code=1)
    lines = out.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, out.stdout
    table = "\n".join(lines[:8])
    assert "acc" in table and "95% CI" in table and "pass^2" in table and "50.0%" in table


def test_the_bar_is_drawn_from_the_start_on_a_terminal_only():
    from rich.console import Console

    from promptops.cli.progress import BarProgress
    from promptops.eval.results import CaseResult

    tty = Console(file=io.StringIO(), force_terminal=True, width=80)
    bar = BarProgress(tty, eager=True)  # before the suites are even loaded
    assert bar.bar is not None and bar.bar.tasks[0].total is None  # pulsing until the total is known
    bar.start(3, 0)
    bar.advance(CaseResult(prompt="p", version="v", model="m", case_id="a", repeat_index=0, vars={}, passed=False))
    assert bar.bar.tasks[0].total == 3 and bar.bar.tasks[0].completed == 1 and bar.failed == 1
    bar.finish()
    bar.finish()  # the runner and the command both finish it
    assert bar.bar is None
    piped = Console(file=io.StringIO(), force_terminal=False)
    quiet = BarProgress(piped, eager=True)
    quiet.start(3, 0)
    quiet.advance(CaseResult(prompt="p", version="v", model="m", case_id="a", repeat_index=0, vars={}, passed=True))
    quiet.finish()
    assert quiet.bar is None and piped.file.getvalue() == ""


def test_eval_help_documents_exit_codes_and_selection(cli):
    text = cli("eval", "--help").stdout
    for flag in ("--fail-under", "--filter", "--tag", "--max-cases", "--sample", "--seed", "--failing"):
        assert flag in text


def test_selection_unit():
    cases = [Case(id=c.lower(), vars={"country": c}) for c in CAPITALS]
    assert Selection().empty and Selection().apply(cases) == cases
    assert [c.id for c in Selection(filter="^s").apply(cases)] == ["spain", "sweden"]
    with pytest.raises(Exception, match="regular expression"):
        Selection(filter="[")
    yaml.safe_dump(Selection(sample=2, seed=3).describe())  # plain data
