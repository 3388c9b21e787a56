"""promptops optimize: candidates scored on a validation split through the runner, the best written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from promptops import fewshot
from promptops.errors import SuiteError
from promptops.escalate.plateau import OPTIMIZE_SOURCE
from promptops.optimize import OptimizeError, optimize
from promptops.project import Project
from promptops.prompts import load_prompt
from promptops.testing.project import CAPITALS

OTHER = {"Austria": "Vienna", "Belgium": "Brussels", "Denmark": "Copenhagen", "Finland": "Helsinki",
         "Greece": "Athens", "Hungary": "Budapest", "Ireland": "Dublin", "Portugal": "Lisbon", "Romania": "Bucharest",
         "Serbia": "Belgrade", "Thailand": "Bangkok", "Vietnam": "Hanoi", "Mexico": "Mexico City", "Cyprus": "Nicosia",
         "Malta": "Valletta", "Latvia": "Riga", "Estonia": "Tallinn", "Albania": "Tirana", "Jordan": "Amman",
         "Kuwait": "Kuwait City"}
ALL = {**CAPITALS, **OTHER}


def rules(min_shots: int):
    """Right only when the request carries at least ``min_shots`` example answers (assistant turns)."""
    def answer(model: str, messages: list) -> str | None:
        if sum(m["role"] == "assistant" for m in messages) < min_shots:
            return "Atlantis"
        return next((city for country, city in ALL.items() if country in messages[-1]["content"]), None)
    return answer


def _train(root: Path, countries=OTHER, extra: str = "") -> str:
    lines = [json.dumps({"vars": {"country": c}, "expected": city}) for c, city in countries.items()]
    (root / "train.jsonl").write_text("\n".join(lines) + "\n" + extra)
    return "train.jsonl"


@pytest.fixture(autouse=True)
def _words():
    fewshot.use_embedder(lambda texts: [[float(len(t) == n) for n in range(80)] for t in texts], "test-length")
    yield
    fewshot.use_embedder(None)


def test_static_few_shot_wins_when_examples_help_and_is_written(git_project: Path, fake_openai) -> None:
    fake_openai.configure(rules=rules(1))
    before = (git_project / "prompts" / "capital.prompt").read_text()
    project = Project.load(git_project)
    try:
        result = optimize(project, "capital", _train(git_project))
        names = [s.name for s in result.scored]
        assert names[0] == "current" and result.scored[0].accuracy == 0.0
        assert "static-greedy-4" in names and any(n.startswith("dynamic-similar-") for n in names)
        assert result.best.name == "static-greedy-4" and result.best.accuracy == 1.0
        assert result.best.ci_low < 1.0 and result.calls > 0 and result.tokens > 0
        assert any("static-bootstrap: skipped" in n for n in result.notes)
        assert any("rewrite: skipped" in n for n in result.notes)
        written = load_prompt(git_project / "prompts" / "capital.prompt", root=git_project)
        assert written.version == result.written_version != before
        assert [s.role for s in written.sections] == ["system"] + ["user", "assistant"] * 4 + ["user"]
        runs = project.store.list_runs(prompt="capital", limit=100)
        marks = [r for r in runs if r.source == OPTIMIZE_SOURCE and not r.models]
        assert len(marks) == 1 and marks[0].summary["optimize"]["best_validation_accuracy"] == 1.0
    finally:
        project.close()


def test_dynamic_few_shot_is_written_with_its_dataset(git_project: Path, fake_openai) -> None:
    fake_openai.configure(rules=rules(5))  # only 5+ example turns help: static k=4 does not, dynamic k=8 does
    project = Project.load(git_project)
    try:
        result = optimize(project, "capital", _train(git_project))
    finally:
        project.close()
    assert result.best.name.startswith("dynamic-similar-") and result.best.accuracy == 1.0
    prompt = load_prompt(git_project / "prompts" / "capital.prompt", root=git_project)
    assert prompt.fewshot is not None and prompt.fewshot.path == "datasets/capital.fewshot.jsonl"
    assert prompt.version == result.written_version
    messages = prompt.render({"country": "Austria"})
    assert sum(m["role"] == "assistant" for m in messages) == prompt.fewshot.k
    assert all("Austria" not in m["content"] for m in messages[1:-1])  # never the case itself


def test_the_cli_prints_each_candidate_with_an_interval_and_the_cost(git_project: Path, fake_openai, cli,
                                                                     tmp_path: Path) -> None:
    fake_openai.configure(rules=rules(1))
    _train(git_project)
    out = tmp_path / "opt.json"
    result = cli("optimize", "capital", "--train", "train.jsonl", "--optimizer", "local/smollm2", "--json", out,
                 cwd=git_project, code=0)
    assert "static-greedy-4" in result.stdout and "[" in result.stdout and "search cost:" in result.stdout
    assert "embedded model local/smollm2" in result.stdout
    data = json.loads(out.read_text())
    assert data["best"] == "static-greedy-4" and data["candidates"][0]["name"] == "current"


def test_budget_skips_candidates_with_a_note(git_project: Path, fake_openai) -> None:
    fake_openai.configure(rules=rules(1))
    project = Project.load(git_project)
    try:
        result = optimize(project, "capital", _train(git_project), budget=6, write=False)
    finally:
        project.close()
    assert [s.name for s in result.scored] == ["current"] and result.calls == 6
    assert any("over the budget of 6 calls" in n for n in result.notes)


def test_too_small_to_split_says_how_many_are_needed(git_project: Path, fake_openai) -> None:
    project = Project.load(git_project)
    before = (git_project / "prompts" / "capital.prompt").read_text()
    try:
        few = dict(list(OTHER.items())[:5])
        with pytest.raises(OptimizeError, match="at least 8 are needed"):
            optimize(project, "capital", _train(git_project, few))
        with pytest.raises(OptimizeError, match="matched the regression suite"):  # the suite is never validation
            optimize(project, "capital", _train(git_project, {**few, **CAPITALS}))
    finally:
        project.close()
    assert (git_project / "prompts" / "capital.prompt").read_text() == before


def test_examples_that_do_not_fit_the_inputs_name_file_and_line(git_project: Path, fake_openai) -> None:
    project = Project.load(git_project)
    try:
        with pytest.raises(SuiteError) as exc:
            optimize(project, "capital", _train(git_project, extra=json.dumps({"vars": {"city": "x"},
                                                                                "expected": "x"}) + "\n"))
    finally:
        project.close()
    assert exc.value.where.endswith("train.jsonl:21")


def test_logged_calls_with_feedback_are_training_data(git_project: Path, fake_openai) -> None:
    fake_openai.configure(rules=rules(1))
    project = Project.load(git_project)
    try:
        store = project.store
        for i, (country, city) in enumerate(OTHER.items()):
            call = store.log_call(prompt="capital", version="v0", model="fake/a", variables={"country": country},
                                  messages=[], output="Atlantis" if i % 2 else city, latency_ms=1.0, cost_usd=0.0)
            store.add_feedback(call.id, **({"correction": city} if i % 2 else {"label": "good"}))
        bad = store.log_call(prompt="capital", version="v0", model="fake/a", variables={"country": "Narnia"},
                             messages=[], output="x", latency_ms=1.0, cost_usd=0.0)
        store.add_feedback(bad.id, label="bad")  # rated bad without a correction: not an example
        result = optimize(project, "capital", "logged", write=False)
    finally:
        project.close()
    assert result.source == "logged calls of capital" and result.train + result.val == len(OTHER)
    assert result.best.accuracy == 1.0 and result.written is None


def test_the_current_version_wins_a_tie_and_nothing_is_written(git_project: Path, fake_openai) -> None:
    fake_openai.configure(rules=rules(0))  # always right: bootstrap finds demos, nothing beats the current version
    before = (git_project / "prompts" / "capital.prompt").read_text()
    project = Project.load(git_project)
    try:
        result = optimize(project, "capital", _train(git_project), ks=(4,))
    finally:
        project.close()
    assert "static-bootstrap-4" in [s.name for s in result.scored]
    assert result.best.name == "current" and result.written is None
    assert (git_project / "prompts" / "capital.prompt").read_text() == before
    assert not (git_project / "datasets" / "capital.fewshot.jsonl").exists()
