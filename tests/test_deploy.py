"""Deployments on a real temporary git repository: eval gates, force, rollback, label history, git
tags, served content after the tree moved on, name@label resolution, and API keys through the CLI."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from promptops import deploy
from promptops.config import load_config
from promptops.errors import GateError, NotFoundError
from promptops.eval.evaluate import evaluate
from promptops.history import History
from promptops.store import ConflictError, open_store
from promptops.testing.fake_openai import FakeOpenAI
from promptops.testing.pytest_plugin import CliInvoker, CliResult

from .helpers import capital_rules, git, make_project, write_prompt

WRONG = {"Peru", "Chile", "Cuba", "Oman", "Qatar"}  # 15 of 20 right: 75%
CAREFUL = "Think carefully, then answer with the city name only."  # this system prompt gets 100%
TAG = "promptops/capital/production"


@pytest.fixture(scope="module")
def server():
    sloppy, careful = capital_rules(WRONG), capital_rules()

    def rules(model, messages):
        return (careful if "carefully" in messages[0]["content"] else sloppy)(model, messages)

    with FakeOpenAI(rules=rules) as srv:
        yield srv


@pytest.fixture(autouse=True)
def fresh_cache():
    deploy._served.clear()
    yield


def tag_commit(root: Path, tag: str = TAG) -> str:
    return git(root, "rev-parse", f"{tag}^{{commit}}")


def commit_prompt(root: Path, system: str, message: str) -> str:
    write_prompt(root, system=system)
    git(root, "commit", "-qam", message)
    return git(root, "rev-parse", "HEAD")


def test_gate_refuses_without_eval_and_below_threshold_allows_above(tmp_path, server):
    root = make_project(tmp_path, server.base_url, extra_config={"environments": {"staging": {"min_score": 0.7}}})
    cfg = load_config(root)
    version = History(root).resolve("capital").prompt.version
    command = f"promptops eval capital@{version} --models fake/a"

    with pytest.raises(GateError) as no_eval:
        deploy.promote(cfg, "capital@HEAD", "production")
    assert "no eval" in str(no_eval.value) and "80.0%" in str(no_eval.value) and command in str(no_eval.value)
    assert no_eval.value.exit_code == 1 and no_eval.value.http_status == 409

    assert evaluate(cfg).summaries[0].accuracy == 0.75
    with pytest.raises(GateError) as below:  # the prompt's target (0.8) gates production
        deploy.promote(cfg, "capital@HEAD", "production")
    assert "75.0%" in str(below.value) and "80.0%" in str(below.value) and command in str(below.value)
    assert deploy.current(cfg, "capital", "production") is None and deploy.deployments(cfg) == []
    with pytest.raises(GateError, match="no eval on fake/b"):  # the gate is per model
        deploy.promote(cfg, "capital@HEAD", "staging", model="fake/b")

    staged = deploy.promote(cfg, "capital", "staging", actor="ana")  # staging's min_score 0.7 lets 75% through
    assert (staged.version, staged.model, staged.score, staged.threshold, staged.forced, staged.actor) == \
           (version, "fake/a", 0.75, 0.7, False, "ana")
    assert staged.commit == git(root, "rev-parse", "HEAD")

    forced = deploy.promote(cfg, "capital@staging", "production", force=True, reason="hotfix")  # from a label
    assert (forced.forced, forced.score, forced.threshold, forced.reason, forced.actor) == \
           (True, 0.75, 0.8, "hotfix", "Tester")
    assert deploy.current(cfg, "capital", "production").id == forced.id
    message = git(root, "cat-file", "-p", TAG)
    assert "FORCED" in message and "reason: hotfix" in message and "score: 75.0% (threshold 80.0%)" in message


def test_uncommitted_version_is_refused_even_with_force(tmp_path, server):
    root = make_project(tmp_path, server.base_url)
    cfg = load_config(root)
    write_prompt(root, system=CAREFUL)
    evaluate(cfg)
    for force in (False, True):
        with pytest.raises(GateError, match="only in the working tree") as exc:
            deploy.promote(cfg, "capital", "production", force=force)
        assert "commit prompts/capital.prompt first" in str(exc.value)
    assert deploy.deployments(cfg) == []


def test_promote_rollback_history_tags_and_served_content(tmp_path, server):
    root = make_project(tmp_path, server.base_url, extra_config={"environments": {"production": {"min_score": 0.7}}})
    cfg = load_config(root)
    c1 = git(root, "rev-parse", "HEAD")
    evaluate(cfg)
    d1 = deploy.promote(cfg, "capital@HEAD", "production", reason="first")
    assert tag_commit(root) == c1

    c2 = commit_prompt(root, CAREFUL, "careful")
    evaluate(cfg)
    d2 = deploy.promote(cfg, "capital@HEAD", "production", reason="better", actor="bob")
    assert (d2.score, d2.commit) == (1.0, c2) and d2.version != d1.version
    assert tag_commit(root) == c2
    message = git(root, "cat-file", "-p", TAG)
    for line in (f"version: {d2.version}", "model: fake/a", "score: 100.0% (threshold 70.0%)", "actor: bob",
                 "reason: better"):
        assert line in message
    assert deploy.promote(cfg, f"capital@{d2.version}", "production").id == d2.id  # same version: no move

    commit_prompt(root, "Reply in French.", "later work, not promoted")
    prompt, row = deploy.deployed_prompt(cfg, "capital")
    assert row.id == d2.id and prompt.hash == d2.hash
    assert prompt.render({"country": "Peru"})[0]["content"] == CAREFUL
    resolved = History(root, label_resolver=lambda n, lb: deploy.label_commit(cfg, n, lb)).resolve("capital@production")
    assert (resolved.commit, resolved.prompt.hash) == (c2, d2.hash)
    assert deploy.label_commit(cfg, "capital", "nowhere") is None

    back = deploy.rollback(cfg, "capital", "production", actor="carol", reason="bad answers")
    assert (back.version, back.commit, back.model, back.rollback_of, back.actor) == \
           (d1.version, c1, "fake/a", d2.id, "carol")
    assert tag_commit(root) == c1 and f"rollback-of: deployment #{d2.id}" in git(root, "cat-file", "-p", TAG)
    assert deploy.deployed_prompt(cfg, "capital")[0].hash == d1.hash
    with pytest.raises(NotFoundError, match="no previous deployment"):  # a stack, not a toggle
        deploy.rollback(cfg, "capital", "production")
    with pytest.raises(NotFoundError, match="no deployment in 'staging'"):
        deploy.rollback(cfg, "capital", "staging")

    history = deploy.deployments(cfg, "capital", "production")
    assert [r.id for r in history] == [back.id, d2.id, d1.id]
    assert [(r.reason, r.forced) for r in history] == [("bad answers", False), ("better", False), ("first", False)]
    assert [r.id for r in deploy.current_labels(cfg)] == [back.id]
    assert deploy.deployments(cfg, env="staging") == []


def test_a_concurrent_move_is_a_conflict_and_leaves_the_tag(tmp_path, server):
    root = make_project(tmp_path, server.base_url, extra_config={"environments": {"production": {"min_score": 0.7}}})
    cfg = load_config(root)
    evaluate(cfg)
    first = deploy.promote(cfg, "capital@HEAD", "production")
    commit_prompt(root, CAREFUL, "careful")
    evaluate(cfg)

    class SawNothing:  # read the label before the first move landed
        def __init__(self, store):
            self.store = store

        def __getattr__(self, name):
            return getattr(self.store, name)

        def current_deployment(self, prompt, env):
            return None

    with pytest.raises(ConflictError, match="moved while"):
        deploy.promote(cfg, "capital@HEAD", "production", store=SawNothing(open_store(cfg)))
    assert deploy.current(cfg, "capital", "production").id == first.id
    assert tag_commit(root) == first.commit


def test_served_content_comes_from_the_store_when_git_lost_it(tmp_path, server):
    root = make_project(tmp_path, server.base_url)
    cfg = load_config(root)
    evaluate(cfg)
    row = deploy.promote(cfg, "capital", "production", force=True)
    shutil.rmtree(root / ".git")
    (root / "prompts" / "capital.prompt").unlink()
    prompt, served = deploy.deployed_prompt(cfg, "capital", "production")
    assert served.id == row.id and prompt.hash == row.hash and prompt.render({"country": "Peru"})
    with pytest.raises(NotFoundError, match="no label 'staging'.*production"):
        deploy.deployed_prompt(cfg, "capital", "staging")
    with pytest.raises(NotFoundError, match="'nope' has no deployment"):
        deploy.deployed_prompt(cfg, "nope")


def cli(root: Path, *args: str, code: int = 0) -> CliResult:
    """The CLI in this process, as the console script runs it (tests/test_pytest_plugin.py)."""
    proc = CliInvoker()(*args, env={"PROMPTOPS_ROOT": str(root)}, code=code)
    assert "Traceback" not in proc.stderr
    return proc


def cli_here(capsys, root: Path, *args: str, code: int = 0) -> tuple[str, str]:
    """The CLI's entry point in this process (a subprocess costs a second or two each)."""
    from promptops.cli.main import main

    capsys.readouterr()
    argv = sys.argv
    sys.argv = ["promptops", "-C", str(root), *args]
    try:
        main()
        exit_code = 0
    except SystemExit as exc:
        exit_code = exc.code
    finally:
        sys.argv = argv
    out, err = capsys.readouterr()
    assert exit_code == code, (args, exit_code, out, err)
    return out, err


def test_cli_promote_show_deployments_rollback(tmp_path, server, capsys):
    root = make_project(tmp_path, server.base_url)
    version = History(root).resolve("capital").prompt.version
    evaluate(load_config(root))
    _, refused = cli_here(capsys, root, "promote", "capital@HEAD", "--to", "production", code=1)
    assert "75.0%" in refused and "80.0%" in refused
    assert f"promptops eval capital@{version} --models fake/a" in refused
    out, _ = cli_here(capsys, root, "promote", "capital@HEAD", "--to", "production", "--force", "--reason", "ship [it]")
    assert "FORCED" in out and TAG in out
    commit_prompt(root, CAREFUL, "later work, not promoted")
    shown = cli(root, "show", "capital@production").stdout
    assert f"capital@{version}" in shown and "Answer with the city name only." in shown and CAREFUL not in shown
    data = json.loads(cli_here(capsys, root, "deployments", "--json")[0])
    assert [(d["prompt"], d["env"], d["version"], d["forced"], d["reason"]) for d in data["current"]] == \
           [("capital", "production", version, True, "ship [it]")]
    assert len(data["history"]) == 1 and data["history"][0]["actor"] == "Tester"
    table = cli_here(capsys, root, "deployments", "capital")[0]
    assert "current labels" in table and "(FORCED) ship [it]" in table
    _, err = cli_here(capsys, root, "rollback", "capital", "--env", "production", code=2)
    assert "no previous deployment" in err


def test_cli_keys_are_shown_once_and_stored_hashed(tmp_path, server, capsys):
    root = make_project(tmp_path, server.base_url)
    made = cli(root, "keys", "create", "--scope", "write", "--name", "ci")
    plain = made.stdout.strip()  # the key alone on stdout, for scripts; the note goes to stderr
    assert plain.startswith("po_") and len(plain) > 20 and plain not in made.stderr
    listed = cli(root, "keys", "list").stdout + cli(root, "keys", "list", "--json").stdout
    assert plain not in listed and plain[:8] in listed and "write" in listed
    for path in (root / ".promptops").rglob("*"):
        if path.is_file():
            assert plain.encode() not in path.read_bytes(), path
    store = open_store(load_config(root))
    key_id = store.verify_api_key(plain).id
    cli(root, "keys", "revoke", str(key_id))
    assert store.verify_api_key(plain) is None
    assert json.loads(cli_here(capsys, root, "keys", "list", "--json")[0])[0]["revoked"] is True
    assert "unknown scope" in cli_here(capsys, root, "keys", "create", "--scope", "root", code=2)[1]
