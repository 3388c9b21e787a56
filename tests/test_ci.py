"""promptops ci on real temporary git repositories: a base branch ``main``, a head branch ``pr``, models on
the fake OpenAI server whose answers depend on the system prompt, and a fake GitHub API for --post."""

import ast
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from promptops.ci import MARKER, run_ci
from promptops.ci.comment import MAX_CHARS, render_comment
from promptops.ci.compare import CaseChange, ModelComparison
from promptops.ci.github import post_comment
from promptops.ci.types import CIResult, PromptReview
from promptops.config import load_config
from promptops.eval.evaluate import evaluate
from promptops.history import History
from promptops.testing.fake_openai import FakeOpenAI

from .ci_helpers import SLOPPY, FakeGitHub, branch, commit, set_system, system_rules
from .helpers import CAPITALS, git, make_project, write_prompt

SLOPPY_IDS = {c.lower() for c in SLOPPY["sloppy"]}


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(rules=system_rules()) as srv:
        yield srv


@pytest.fixture()
def project(tmp_path, server):
    server.reset()
    return make_project(tmp_path / "repo", server.base_url)


def cli(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "PROMPTOPS_ROOT": str(root), **(env or {})}
    for key in ("GITHUB_TOKEN", "GITHUB_EVENT_PATH", "GITHUB_REPOSITORY", "GITHUB_API_URL"):
        if env is None or key not in env:
            full.pop(key, None)
    return subprocess.run([sys.executable, "-m", "promptops.cli.main", "ci", *args], cwd=root, env=full,
                          capture_output=True, text=True, timeout=120)


def cli_here(monkeypatch, capsys, root: Path, *args: str, env: dict | None = None) -> tuple[int, str, str]:
    """The same command in this process (no second import of the stack): (exit code, stdout, stderr)."""
    from promptops.cli import common
    from promptops.cli import main as cli_main

    monkeypatch.chdir(root)
    monkeypatch.setenv("PROMPTOPS_ROOT", str(root))
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    common.close()
    monkeypatch.setattr(sys, "argv", ["promptops", "ci", *args])
    capsys.readouterr()
    code = 0
    try:
        cli_main.main()
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_regression_fails_the_gate_and_lists_newly_failing_cases(project, server):
    branch(project, "pr")
    set_system(project, "Be sloppy. Answer with the city name only.")
    commit(project, "sloppier")
    result = run_ci(load_config(project), "main")
    [review] = result.reviews
    assert (review.name, review.status, review.prompt_changed, review.suite_changed) == \
        ("capital", "modified", True, False)
    [c] = review.comparisons
    assert c.verdict == "regressed"
    assert (c.paired, c.base_passed, c.head_passed) == (20, 20, 8)
    assert c.delta == pytest.approx(-0.6) and c.delta_low < -0.6 < c.delta_high < 0
    assert c.p_value == pytest.approx(2 / 2 ** 12)
    assert {x.case_id for x in c.newly_failing} == SLOPPY_IDS and not c.newly_passing
    france = next(x for x in c.newly_failing if x.case_id == "france")
    assert (france.vars, france.expected, france.base_output, france.head_output) == \
        ({"country": "France"}, "Paris", "Paris", "Atlantis")
    assert result.exit_code == 1 and "regressed" in result.gates_failed[0]
    assert server.count() == 40  # base and head once each
    text = result.comment()
    assert text.startswith(MARKER) and "❌ 1 gate failed" in text and "regressed" in text
    assert "```diff" in text and "+Be sloppy." in text and "-Answer with the city name only." in text
    assert "| france | France | Paris | Paris | Atlantis |" in text
    assert text.count("| ") > 20 and "<details>" in text


def test_improvement_passes(tmp_path, server):
    root = make_project(tmp_path / "repo", server.base_url)
    set_system(root, "Be sloppy. Answer with the city name only.")
    commit(root, "sloppy base")
    branch(root, "pr")
    set_system(root, "Answer with the city name only.")
    commit(root, "careful")
    result = run_ci(load_config(root), "main")
    [c] = result.comparisons
    assert c.verdict == "improved" and (c.base_passed, c.head_passed) == (8, 20)
    assert {x.case_id for x in c.newly_passing} == SLOPPY_IDS
    assert result.passed and result.exit_code == 0
    assert "✅ All gates passed" in result.comment() and "improved" in result.comment()


def test_small_change_on_a_small_suite_is_unchanged(tmp_path, server):
    root = make_project(tmp_path / "repo", server.base_url,
                        countries=["France", "Spain", "Ghana", "Iran", "Peru", "Chile"])
    branch(root, "pr")
    set_system(root, "Be terse. Answer with the city name only.")  # Ghana and Iran go wrong
    commit(root, "terse")
    result = run_ci(load_config(root), "main")
    [c] = result.comparisons
    assert c.verdict == "unchanged" and (c.base_passed, c.head_passed) == (6, 4)
    assert c.p_value == 0.5 and {x.case_id for x in c.newly_failing} == {"ghana", "iran"}
    assert result.exit_code == 0  # default gates: regression, below-min (no min set)
    # the same results under stricter gates, set by flag
    strict = run_ci(load_config(root), "main", fail_on="drop,below-target", max_drop=0.1)
    reasons = strict.gates_failed
    assert strict.exit_code == 1 and len(reasons) == 2
    assert any("dropped 33.3 points" in r for r in reasons)
    assert any("below the prompt's target 80.0%" in r for r in reasons)
    assert strict.calls == 0  # everything came from the response cache


def test_renamed_prompt_is_compared_to_its_old_self(project):
    base_version = History(project).resolve("capital@main").prompt.version
    branch(project, "pr")
    git(project, "mv", "prompts/capital.prompt", "prompts/capital-city.prompt")
    path = project / "prompts" / "capital-city.prompt"
    path.write_text(path.read_text().replace("name: capital", "name: capital-city"))
    set_system(project, "Be sloppy. Answer with the city name only.", name="capital-city")
    commit(project, "rename and edit")
    result = run_ci(load_config(project), "main")
    [review] = result.reviews
    assert (review.name, review.old_name, review.status) == ("capital-city", "capital", "renamed")
    assert review.base_version == base_version and review.head_version != base_version
    [c] = review.comparisons
    assert c.verdict == "regressed" and c.base_passed == 20  # the base is the old prompt, scored
    assert "-name: capital\n" in review.diff and "+name: capital-city\n" in review.diff
    assert "(was `capital`)" in result.comment()


def test_suite_only_edit_rescores_its_prompt(tmp_path, server):
    countries = list(CAPITALS)
    root = make_project(tmp_path / "repo", server.base_url, countries=countries[:15])
    evaluate(load_config(root))  # main's results are in the cache (as the push job leaves them)
    branch(root, "pr")
    suite = root / "datasets" / "capital" / "cases.jsonl"
    lines = suite.read_text().replace('"expected": "Paris"', '"expected": "Lyon"')
    lines += "".join(json.dumps({"id": c.lower(), "vars": {"country": c}, "expected": CAPITALS[c]}) + "\n"
                     for c in countries[15:18])
    suite.write_text(lines)
    commit(root, "harder suite")
    server.reset()
    result = run_ci(load_config(root), "main")
    [review] = result.reviews
    assert (review.prompt_changed, review.suite_changed) == (False, True)
    assert review.suite_note == "3 new cases (head only)" and review.diff == ""
    [c] = review.comparisons
    assert c.verdict == "unchanged" and (c.paired, c.new_cases, c.new_cases_passed) == (15, 3, 3)
    assert (c.head_total, c.head_total_passed) == (18, 17)  # the edited case now fails, in both
    assert not c.newly_failing
    assert server.count() == 3 and result.calls == 3  # only the new cases reach the model
    assert "3 new cases (head only)" in result.comment()


def test_second_run_calls_only_the_touched_prompts(tmp_path, server):
    root = make_project(tmp_path / "repo", server.base_url, models=("fake/a", "fake/b"))
    write_prompt(root, name="capital", models=("fake/a",))
    write_prompt(root, name="other", models=("fake/b",))
    commit(root, "two prompts")
    branch(root, "pr")
    set_system(root, "Be terse. Answer with the city name only.")
    commit(root, "edit capital")
    server.reset()
    first = run_ci(load_config(root), "main")
    assert [r.name for r in first.reviews] == ["capital"]
    assert server.count() == 40 and server.count(model="a") == 40
    set_system(root, "Be vague. Answer with the city name only.", name="other")
    commit(root, "edit other")
    server.reset()
    second = run_ci(load_config(root), "main")
    assert [r.name for r in second.reviews] == ["capital", "other"]
    assert server.count(model="a") == 0 and server.count() == server.count(model="b") == 40
    assert second.cached == 40 and second.calls == 40
    assert [c.verdict for c in second.comparisons] == ["unchanged", "unchanged"]
    server.reset()
    third = run_ci(load_config(root), "main")
    assert server.count() == 0 and third.calls == 0 and third.cached == 80


def test_removed_prompt_and_record(tmp_path, server):
    from promptops.store import open_store

    root = make_project(tmp_path / "repo", server.base_url)
    write_prompt(root, name="other")
    commit(root, "two prompts")
    branch(root, "feature")
    (root / "prompts" / "other.prompt").unlink()
    set_system(root, "Be vague. Answer with the city name only.")
    commit(root, "drop other, edit capital")
    result = run_ci(load_config(root), "main", record=True)
    assert [(r.name, r.status) for r in result.reviews] == [("capital", "modified"), ("other", "removed")]
    assert [c.verdict for c in result.comparisons] == ["unchanged", "removed prompt"]
    assert result.recorded_branch == "feature" and result.exit_code == 0
    runs = open_store(load_config(root)).list_runs(prompt="capital")
    assert {(r.branch, r.source, r.version) for r in runs} == {
        ("feature", "ci", result.reviews[0].head_version), (None, "ci", result.reviews[0].base_version)}


def test_merge_base_is_the_real_base(project):
    branch(project, "pr")
    (project / "notes.md").write_text("nothing to do with prompts\n")
    commit(project, "notes")
    git(project, "checkout", "-q", "main")
    set_system(project, "Be sloppy. Answer with the city name only.")  # lands on main after the branch point
    commit(project, "main moves on")
    git(project, "checkout", "-q", "pr")
    result = run_ci(load_config(project), "main")
    assert result.reviews == [] and result.base_sha != result.base_ref_sha  # main's edit is not the PR's doing
    assert "No prompt or suite changed" in result.comment()


def test_nothing_touched_exits_zero_quickly_without_the_store(project):
    branch(project, "pr")
    (project / "README.md").write_text("docs only\n")
    commit(project, "docs")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = cli(project, "--base", "main", "--comment", "out/comment.md")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)  # not wall time: CI is shared
    assert proc.returncode == 0, proc.stderr
    assert "nothing to score" in proc.stdout
    assert (project / "out" / "comment.md").read_text().startswith(MARKER)
    assert not (project / ".promptops").exists()  # no store was opened
    assert cpu < 4, cpu
    check = ("import sys; from promptops.ci import run_ci; from promptops.config import load_config; "
             f"r = run_ci(load_config({str(project)!r}), 'main'); "
             "assert r.reviews == [] and r.exit_code == 0; "
             "heavy = [m for m in ('litellm', 'sqlmodel', 'sqlalchemy', 'httpx') if m in sys.modules]; "
             "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


def test_cli_exit_codes_comment_and_post(project, server, tmp_path, monkeypatch, capsys):
    branch(project, "pr")
    set_system(project, "Be sloppy. Answer with the city name only.")
    commit(project, "sloppier")
    run_ci(load_config(project), "main")  # fills the response cache: the CLI runs below need no model call
    with FakeGitHub() as github:
        github.add("an unrelated comment")
        github.add("another one")
        github.add("and a third, so that ours is on page two")
        env = github.env(tmp_path)
        proc = cli(project, "--base", "main", "--comment", "c.md", "--post", "--json", "r.json", "-q", env=env)
        assert proc.returncode == 1, proc.stderr
        assert "gate failed" in proc.stderr and "regressed" in proc.stdout
        assert "created the pull request comment" in proc.stderr
        body = (project / "c.md").read_text()
        assert body.startswith(MARKER) and "🔴" in body
        data = json.loads((project / "r.json").read_text())
        assert data["passed"] is False and data["prompts"][0]["comparisons"][0]["verdict"] == "regressed"
        [ours] = [c for c in github.comments if MARKER in c["body"]]
        assert ours["body"] == body and len(github.comments) == 4

        # the second push updates the same comment (found on page 2), it does not add one
        code, out, err = cli_here(monkeypatch, capsys, project, "--base", "main", "--post", "-q",
                                  "--fail-on", "none", env=env)
        assert code == 0, err
        assert "updated the pull request comment" in err and len(github.comments) == 4
        assert [c["id"] for c in github.comments if MARKER in c["body"]] == [ours["id"]]
        assert "✅ All gates passed" in github.comments[-1]["body"]
        assert any(m == "PATCH" for m, _, _ in github.requests)
        assert all(auth == f"Bearer {env['GITHUB_TOKEN']}" for _, _, auth in github.requests)

        # GitHub refusing does not hide the result nor change the exit code
        github.fail = {"PATCH": 403, "POST": 403}
        code, out, err = cli_here(monkeypatch, capsys, project, "--base", "main", "--comment", "c2.md", "--post",
                                  "-q", env=env)
        assert code == 1, err
        assert "warning: could not post the pull request comment: no permission to comment (403)" in err
        assert "regressed" in out and (project / "c2.md").read_text().startswith(MARKER)
        assert env["GITHUB_TOKEN"] not in out + err

    # usage and file errors: exit 2, and the comment says why
    proc = cli(project, "--base", "main", "--fail-on", "regresion", "--comment", "err.md")
    assert proc.returncode == 2 and "unknown gate(s): regresion" in proc.stderr
    assert "could not run" in (project / "err.md").read_text()
    proc = cli(project, "--base", "no-such-branch")
    assert proc.returncode == 2 and "unknown git ref 'no-such-branch'" in proc.stderr


def test_post_comment_errors_are_one_line_and_keep_the_token_secret(tmp_path):
    with FakeGitHub() as github:
        env = github.env(tmp_path)
        first = post_comment(f"{MARKER}\none", env=env)
        second = post_comment(f"{MARKER}\ntwo", env=env)
        assert (first.ok, first.action, second.ok, second.action) == (True, "created", True, "updated")
        assert first.comment_id == second.comment_id and github.comments[0]["body"].endswith("two")
        for method, status, words in (("GET", 401, "rejected the token"), ("POST", 422, "refused the comment"),
                                      ("GET", 404, "not found (404)")):
            github.fail = {method: status}
            github.comments.clear()
            outcome = post_comment(f"{MARKER}\nthree", env=env)
            assert not outcome.ok and words in outcome.error and "\n" not in outcome.error
            assert env["GITHUB_TOKEN"] not in outcome.error
    down = post_comment("x", env={**env, "GITHUB_API_URL": "http://127.0.0.1:9"}, timeout=2)
    assert not down.ok and "cannot reach the GitHub API" in down.error
    assert "GITHUB_TOKEN is not set" in post_comment("x", env={k: v for k, v in env.items()
                                                              if k != "GITHUB_TOKEN"}).error
    assert "no pull request number" in post_comment("x", env={**env, "GITHUB_EVENT_PATH": ""}).error


def test_comment_stays_under_githubs_limit():
    huge = "\n".join(f"+line {i} " + "x" * 80 for i in range(3000))
    cases = [CaseChange(case_id=f"case-{i}", vars={"text": "v" * 500}, expected="e" * 300,
                        base_output="b" * 300, head_output="h|<b>" * 100) for i in range(500)]
    reviews = []
    for n in range(40):
        c = ModelComparison(prompt=f"p{n}", model="fake/a", verdict="regressed", paired=500, base_passed=500,
                            head_passed=0, base_accuracy=1.0, head_accuracy=0.0, delta=-1.0, delta_low=-1.0,
                            delta_high=-0.99, p_value=1e-100, newly_failing=cases, head_total=500,
                            gates_failed=[f"p{n} regressed"])
        reviews.append(PromptReview(name=f"p{n}", old_name=f"p{n}", status="modified", prompt_changed=True,
                                    suite_changed=False, diff=huge, comparisons=[c], models=["fake/a"]))
    result = CIResult(base="main", head="HEAD", base_sha="a" * 40, head_sha="b" * 40, base_ref_sha="a" * 40,
                      reviews=reviews, fail_on=["regression"], max_failing_cases=10)
    text = render_comment(result)
    assert len(text) <= MAX_CHARS and text.startswith(MARKER)
    assert "Shortened to fit GitHub's comment limit" in text and "| `p39` |" in text
    assert "<b>" not in text and "h\\|&lt;b&gt;" in render_comment(result, limit=10 ** 7)
    reviews[0].diff = "-old\n+new"
    small = render_comment(CIResult(base="main", head="HEAD", base_sha="a" * 40, head_sha="b" * 40,
                                    base_ref_sha="a" * 40, reviews=reviews[:1], max_failing_cases=3))
    assert "Shortened" not in small and small.count("| case-") == 3 and "497 more failing cases" in small


def test_ci_modules_layer_without_a_cycle():
    """types and the renderer never import the review; the public names stay where they were."""
    import promptops.ci as ci
    import promptops.ci.review as review

    folder = Path(ci.__file__).parent

    def imported(name: str) -> set[str]:
        tree = ast.parse((folder / f"{name}.py").read_text(encoding="utf-8"))
        return {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1}

    assert "review" not in imported("comment") and "review" not in imported("types")
    assert "types" in imported("review")
    assert ci.CIResult is review.CIResult is CIResult and ci.PromptReview is review.PromptReview is PromptReview
    for name in ci.__all__:
        assert getattr(ci, name) is not None
