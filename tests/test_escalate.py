"""Escalation: plateau detection on made-up histories, export from logged calls, `escalate --check`."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from promptops.config import load_config
from promptops.errors import PromptopsError
from promptops.escalate import IMPROVING, NO_TARGET, PLATEAUED, TARGET_MET, TOO_LITTLE, check, decide, export
from promptops.escalate.events import NotPromoted, Promoted
from promptops.escalate.measure import probe as REAL_PROBE
from promptops.escalate.plateau import VersionScore
from promptops.store import open_store
from promptops.testing.pytest_plugin import CliInvoker, CliResult
from tests.helpers import make_project

ENV = {"PROMPTOPS_ROOT": None}  # each command finds its project from the cwd
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
MODEL = "fake/a"


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", "http://127.0.0.1:9/v1")


def fake_probe(train_config, train_path, val_path=None, *, steps=3, seed=0):
    """The probe without a model: token lengths as characters / 4 + 10, a made-up 0.25 s step."""
    from promptops.escalate.measure import Measured
    from promptops.finetune.data import plan_lengths, read_chat_jsonl

    rows = read_chat_jsonl(train_path) + (read_chat_jsonl(val_path) if val_path and Path(val_path).is_file() else [])
    lengths = [sum(len(m["content"]) for m in r["messages"]) // 4 + 10 for r in rows]
    return Measured(True, step_s=0.25, probe_step_s=0.2, steps_timed=steps - 1, sample=8 * steps, load_s=1.0,
                    tokens_per_step=100.0, probe_tokens_per_step=80.0,
                    lengths=plan_lengths(lengths, train_config.max_length))


@pytest.fixture(autouse=True)
def no_model_probe(monkeypatch):
    """The default suite never loads the real model: the probe is faked (its own test is slow)."""
    from promptops.escalate import measure

    monkeypatch.setattr(measure, "probe", fake_probe)


def add_runs(store, accuracies, *, prompt="capital", model=MODEL, branch="main", start=0):
    """One finished run per accuracy; each a new version (hash), evaluated a day apart."""
    for i, acc in enumerate(accuracies, start=start):
        store.create_run(prompt=prompt, version=f"v{i:02d}", hash=f"h{i:02d}", commit=f"c{i:02d}", branch=branch,
                         models=[model], fingerprint=f"fp{i}", status="finished", started_at=T0 + timedelta(days=i),
                         summary={model: {"accuracy": acc, "ci_low": acc - 0.1, "ci_high": acc + 0.1, "total": 20}})


def scores(*accs):
    return [VersionScore(version=f"v{i}", hash=f"h{i}", accuracy=a, first_eval=T0 + timedelta(days=i))
            for i, a in enumerate(accs)]


@pytest.mark.parametrize("accs, target, status", [
    ((0.5, 0.6, 0.85), 0.8, TARGET_MET),
    ((0.4, 0.5, 0.6, 0.7), 0.8, IMPROVING),
    ((0.5, 0.6, 0.61, 0.6, 0.615), 0.8, PLATEAUED),
    ((0.6, 0.5, 0.55, 0.62), 0.8, PLATEAUED),  # +2.0 points exactly is not "more than delta"
    ((0.6, 0.5, 0.55, 0.63), 0.8, IMPROVING),
    ((0.5, 0.6), 0.8, TOO_LITTLE),
    ((), 0.8, TOO_LITTLE),
    ((0.5, 0.5, 0.5, 0.5), None, NO_TARGET),
])
def test_decide(accs, target, status):
    assert decide(scores(*accs), target=target, window=3, delta=0.02).status == status


def test_plateau_from_the_store_per_branch_and_best_run_per_version(project: Path):
    config = load_config(project)
    store = open_store(config)
    add_runs(store, [0.5, 0.6, 0.61, 0.6, 0.6])
    add_runs(store, [0.95, 0.99], branch="feature", start=10)  # other branches do not count
    # a rerun of v01 scoring higher later: one score per version, its best, at its first eval time
    store.create_run(prompt="capital", version="v01", hash="h01", commit="c01", branch="main", models=[MODEL],
                     fingerprint="again", status="finished", started_at=T0 + timedelta(days=20),
                     summary={MODEL: {"accuracy": 0.62}})
    store.create_run(prompt="capital", version="v09", hash="h09", branch="main", models=[MODEL], fingerprint="x",
                     status="running", started_at=T0 + timedelta(days=21), summary=None)  # unfinished: ignored
    [report] = check(config, ["capital"])
    assert report.status == PLATEAUED
    assert [(s.version, s.accuracy) for s in report.scores] == [("v00", 0.5), ("v01", 0.62), ("v02", 0.61), ("v03", 0.6),
                                                                ("v04", 0.6)]
    assert report.best.version == "v01" and report.best.commit == "c01"
    assert report.recent_gain == pytest.approx(-0.01)  # window 3: the best of v02..v04 (61%) vs v01 (62%)
    assert "plateau" in report.to_dict()["status"] and report.gap == pytest.approx(0.18)


def test_plateau_uses_all_runs_when_none_has_a_branch_and_per_prompt_window(project: Path):
    text = (project / "prompts" / "capital.prompt").read_text()
    (project / "prompts" / "capital.prompt").write_text(text.replace("target: 0.8", "target: 0.8\nescalate: {window: 2, delta: 0.05}"))
    config = load_config(project)
    store = open_store(config)
    add_runs(store, [0.5, 0.6, 0.63, 0.64], branch=None)
    [report] = check(config, ["capital"])
    assert (report.window, report.delta, report.status) == (2, 0.05, PLATEAUED)
    with pytest.raises(PromptopsError, match="no prompt named"):
        check(config, ["nope"])


# --- export ---------------------------------------------------------------------------------------

EXTRA = ["Brazil", "Mexico", "India", "China", "Fiji", "Laos", "Mali", "Chad", "Togo", "Niger", "Benin", "Gabon"]


def log(store, country, output, *, score=None, label=None, correction=None, error=None, version="v00"):
    call = store.log_call(prompt="capital", version=version, model=MODEL, variables={"country": country},
                          messages=[], output=output, error=error, latency_ms=100.0, cost_usd=0.001)
    if score is not None or label is not None or correction is not None:
        store.add_feedback(call.id, score=score, label=label, correction=correction)
    return call


@pytest.fixture()
def logged(project: Path):
    config = load_config(project)
    store = open_store(config)
    ids = {}
    for c in EXTRA[:6]:
        ids[c] = log(store, c, f"{c}-city", score=1.0).id  # rated good: kept as is (Fiji, Laos: see below)
    ids["Fiji"] = log(store, "Fiji", "Lima", score=0.0, correction="Suva").id  # corrected beats rated good
    ids["Laos"] = log(store, "Laos", "Paris", label="thumbs_down", correction=" Vientiane ").id
    log(store, "Mali", "Dakar", score=0.0)  # bad, no correction: dropped
    log(store, "Chad", "N'Djamena")  # unrated: dropped
    log(store, "Togo", None, error="timeout", score=0.0, correction="Lome").id  # a failed call with a correction
    log(store, "  BRAZIL ", "Brasilia", score=1.0)  # duplicate after normalising
    log(store, "France", "Paris", score=1.0)  # in the suite (exact)
    log(store, "  japan", "Tokyo", label="good")  # in the suite (normalised)
    log(store, "Niger", "Niamey", label="thumbs_up", version="v01")  # another version counts too
    return config, store, ids


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_export_keeps_corrected_and_good_drops_bad_suite_overlap_duplicates(logged):
    config, store, ids = logged
    res = export(config, "capital", min_examples=5, val_fraction=0.25, seed=0)
    rows = read_jsonl(res.train_path) + read_jsonl(res.val_path)
    targets = {r["messages"][-2]["content"].split("of ")[-1].rstrip("?"): r["messages"][-1]["content"] for r in rows}
    assert targets["Fiji"] == "Suva" and targets["Laos"] == "Vientiane"  # corrections are the target
    assert targets["Togo"] == "Lome" and targets["Niger"] == "Niamey"
    assert targets["Brazil"] == "Brazil-city"  # the first of the duplicates
    assert not {"Mali", "Chad", "France", "japan"} & set(targets)
    assert len(rows) == 8 and (res.train, res.val) == (6, 2)
    assert rows[0]["messages"][0] == {"role": "system", "content": "Answer with the city name only."}
    assert [m["role"] for m in rows[0]["messages"]] == ["system", "user", "assistant"]
    m = json.loads(res.manifest_path.read_text())
    assert m["dropped"] == {"duplicate input": 3, "in the regression suite": 2, "rated bad, no correction": 1,
                            "unrated": 1}
    assert m["counts"] == {"logged_calls": 15, "kept": 8, "corrected": 3, "rated_good": 5}
    assert m["split"] == {"train": 6, "val": 2} and m["seed"] == 0
    import hashlib
    for name in ("train.jsonl", "val.jsonl"):
        assert m["files"][name]["sha256"] == hashlib.sha256((res.out_dir / name).read_bytes()).hexdigest()
    assert ids["Fiji"] in m["sources"]["train"] + m["sources"]["val"]
    assert m["version"] == res.version and res.out_dir == project_dir(config) / "datasets" / "finetune" / "capital"
    # a fixed seed gives the same split
    again = export(config, "capital", min_examples=5, val_fraction=0.25, seed=0)
    assert again.manifest["sources"] == m["sources"]


def project_dir(config):
    return config.root


def test_export_refuses_a_too_small_set_and_writes_nothing(logged, tmp_path: Path):
    config, store, _ = logged
    with pytest.raises(PromptopsError, match=r"only 8 usable example\(s\).*; 50 needed"):
        export(config, "capital", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_cli(logged):
    config, _, _ = logged
    out = cli(config.root, "export", "capital", "--min-examples", "3")
    assert out.returncode == 0, out.stderr
    assert "3 corrected" in out.stdout and "dropped 2: in the regression suite" in out.stdout
    out = cli(config.root, "export", "capital")
    assert out.returncode == 2 and "50 needed" in out.stderr


# --- the CLI gate ------------------------------------------------------------------------------------

def cli(root: Path, *args: str) -> CliResult:
    """``promptops ARGS`` in ``root``, in this process; the exit code is the test's to check."""
    return CliInvoker()(*args, cwd=root, env=ENV, code=None)


def test_escalate_check_exit_codes(project: Path):
    config = load_config(project)
    store = open_store(config)
    add_runs(store, [0.6, 0.5])
    out = cli(project, "escalate", "--check")
    assert out.returncode == 4, out.stdout + out.stderr  # declined: too little history to decide
    assert TOO_LITTLE in out.stdout
    add_runs(store, [0.55, 0.6, 0.61], start=2)
    out = cli(project, "escalate", "--check")
    assert out.returncode == 3, out.stdout + out.stderr
    assert PLATEAUED in out.stdout and "v00:60%" in out.stdout  # the evidence
    out = cli(project, "escalate", "capital", "--check", "--json")
    assert out.returncode == 3
    assert json.loads(out.stdout)[0]["status"] == PLATEAUED
    add_runs(store, [0.9], start=5)
    assert cli(project, "escalate", "--check").returncode == 0


def test_escalate_refuses_clearly_without_enough_logged_data(project: Path):
    store = open_store(load_config(project))
    add_runs(store, [0.6, 0.5, 0.55, 0.61])
    out = cli(project, "escalate", "capital")
    assert out.returncode == 2 and "0 usable example(s)" in out.stderr


def test_promote_if_better_promotes_the_version_the_adapter_was_scored_with(tmp_path):
    """The fine-tuned model is promoted with the prompt version it was trained and scored on,
    which need not be the best prompt's version."""
    from promptops.config import load_config
    from promptops.escalate.flow import promote_if_better
    from promptops.eval.evaluate import evaluate
    from promptops.testing.fake_openai import FakeOpenAI

    from .helpers import capital_rules, git, make_project, write_prompt

    with FakeOpenAI(rules=capital_rules()) as server:
        root = make_project(tmp_path, server.base_url, models=("fake/a",))
        best_commit = git(root, "rev-parse", "HEAD")
        write_prompt(root, system="Reply with the capital city.", models=("fake/a",))
        git(root, "commit", "-qam", "short prompt for fine-tuning")
        trained_commit = git(root, "rev-parse", "HEAD")
        cfg = load_config(root)
        scored = evaluate(cfg, [f"capital@{trained_commit}"]).summaries[0]
        cmp = {"prompt": "capital", "commit": best_commit, "finetuned_commit": trained_commit,
               "finetuned_model": "fake/a", "beats_prompt": True,
               "finetuned_row": {"accuracy": scored.accuracy}, "prompt_row": {"accuracy": 0.1},
               "paired": {"mcnemar_p": 1e-6, "alpha": 0.05}}
        said: list = []
        row = promote_if_better(cfg, cmp, "production", on_event=said.append)
        assert row is not None and row.version == scored.version and row.model == "fake/a"
        assert said == [Promoted("capital", "production", row)]
        cmp["beats_prompt"] = False
        assert promote_if_better(cfg, cmp, "staging", on_event=said.append) is None
        assert said[-1] == NotPromoted("capital", "staging",
                                       "the fine-tuned model does not beat the prompt (p = 1e-06, alpha 0.05)")


# --- the flow's events, and how the CLI prints them ---------------------------------------------------

class FakeJob:
    def __init__(self, status, **kw):
        self.id, self.status, self.pid, self.log_path, self.error = "j1", status, 42, "/tmp/j1.log", None
        self.progress, self.metrics = {}, {"model": "local/smollm2+j1"}
        self.__dict__.update(kw)


def test_escalate_reports_each_step_as_an_event_in_order(logged, monkeypatch):
    """The flow with the job and the adapter's eval stubbed: events, in order, and no printing."""
    from promptops.escalate import flow

    config, store, _ = logged
    add_runs(store, [0.5, 0.6, 0.61, 0.6, 0.6])
    started = []
    monkeypatch.setattr(flow.jobs, "create", lambda *a, **kw: started.append(kw["extra"]) or FakeJob("queued"))

    def wait(config, job_id, *, store=None, on_update=None):
        for status in ("running", "succeeded"):
            on_update(FakeJob(status))
        return FakeJob("succeeded")

    monkeypatch.setattr(flow.jobs, "wait", wait)
    cmp = {"prompt": "capital", "cases": 10, "beats_prompt": False, "paired": {"mcnemar_p": 0.5, "alpha": 0.05}}
    monkeypatch.setattr(flow, "compare", lambda *a, **kw: cmp)
    seen: list = []
    [out] = flow.escalate(config, ["capital"], wait=True, auto_promote="production", min_examples=3,
                          train_overrides={"max_steps": 5}, on_event=seen.append, store=store)
    assert [type(e).__name__ for e in seen] == ["Exported", "Measuring", "Estimated", "JobStarted", "JobProgress",
                                                "JobProgress", "JobEnded", "Compared", "NotPromoted"]
    assert all(e.prompt == "capital" for e in seen)
    assert seen[0].export is out.export and seen[2].estimate is out.estimate and seen[7].comparison is cmp
    est = out.estimate
    assert est.measured and est.step_s == 0.25 and "measured on this machine" in est.step_source
    assert "DESIGN.md" not in json.dumps(est.to_dict()) and est.max_length["chosen"]
    assert started[0]["estimate"]["measured"] and started[0]["escalation"]["status"] == PLATEAUED
    assert started[0]["version"] == out.export.version and out.promoted is None
    # without --wait the flow stops once the job is started
    seen.clear()
    flow.escalate(config, ["capital"], min_examples=3, on_event=seen.append, store=store, measure_steps=0)
    assert [type(e).__name__ for e in seen] == ["Exported", "Estimated", "JobStarted"]
    est = seen[1].estimate
    assert not est.measured and "not measured; probe: --measure-steps 0" in est.step_source


def test_cli_prints_the_flow_events_as_before(capsys, tmp_path):
    from promptops.cli.escalate_cmd import _event_printer
    from promptops.escalate.events import Exported, JobEnded, JobProgress, JobStarted, NotPromoted, Promoted

    class Export:
        train, val, out_dir, version, dropped = 6, 2, tmp_path / "ft", "abc123", {"unrated": 1, "duplicate input": 3}

    class Row:
        version, model, id = "abc123", "local/smollm2+j1", 7

    show = _event_printer()
    show(Exported("capital", Export()))
    show(JobStarted("capital", FakeJob("queued")))
    show(JobProgress("capital", FakeJob("running", progress={"step": 3, "total_steps": 10, "loss": 1.25})))
    show(JobEnded("capital", FakeJob("failed", error="out of memory")))
    show(NotPromoted("capital", "production", "the gate says no"))
    show(Promoted("capital", "production", Row()))
    assert capsys.readouterr().out.splitlines() == [
        f"capital: exported 6 train + 2 validation examples to {tmp_path / 'ft'} "
        "(version abc123; dropped: 3 duplicate input, 1 unrated)",
        "capital: started job j1 (log /tmp/j1.log); follow it with: promptops jobs show j1",
        "j1 running  step 3/10  loss 1.250",
        "capital: job j1 failed: out of memory",
        "capital: not promoted: the gate says no",
        "capital@production -> abc123 on local/smollm2+j1 (deployment #7)",
    ]


# --- per-label metrics follow the pass rule ------------------------------------------------------------

def test_per_label_metrics_use_the_same_pass_rule_as_accuracy():
    from promptops.eval.results import CaseResult, summarize

    def r(i, expected, output, passed, error=None):
        return CaseResult(prompt="p", version="v", model="m", case_id=str(i), repeat_index=0, vars={},
                          expected=expected, output=output, passed=passed, error=error)

    results = [r(0, "spam", "Spam, clearly.", True),  # passes its assertion though not an exact label
               r(1, "spam", "ham", False),  # names another label
               r(2, "spam", "spam", False),  # names the expected label yet fails (a stricter assertion)
               r(3, "ham", "I think it is spam or ham", False),
               r(4, "ham", None, None, error="timeout")]
    s = summarize(results, prompt="p", version="v", model="m", duration_s=0, labels=["spam", "ham"])
    c = s.classification
    assert c["accuracy"] == pytest.approx(s.accuracy) == pytest.approx(0.2)
    assert c["per_label"]["spam"]["recall"] == pytest.approx(1 / 3)  # was 2/3 when "contains" counted
    assert c["per_label"]["ham"]["recall"] == 0.0 and c["confusion"]["spam"]["ham"] == 1


# --- promptops compare --------------------------------------------------------------------------------

def test_compare_pairs_two_models_on_the_suite_and_reuses_stored_evals(tmp_path):
    from promptops.testing.fake_openai import FakeOpenAI

    from .helpers import CAPITALS, git

    wrong = set(list(CAPITALS)[:12])  # fake/a misses 12 of 20; fake/b misses none

    def rules(model, messages):
        text = messages[-1]["content"]
        country = next(c for c in CAPITALS if c in text)
        return "Atlantis" if model.endswith("a") and country in wrong else CAPITALS[country]

    with FakeOpenAI(rules=rules) as server:
        root = make_project(tmp_path / "p", server.base_url, models=("fake/a", "fake/b"))
        head = git(root, "rev-parse", "--short", "HEAD")
        out = cli(root, "compare", f"capital@{head}/fake/a", f"capital@{head}/fake/b", "--json")
        assert out.returncode == 0, out.stderr
        cmp = json.loads(out.stdout)
        assert cmp["cases"] == 20 and cmp["paired"]["finetuned_only"] == 12 and cmp["paired"]["prompt_only"] == 0
        assert cmp["prompt_row"]["accuracy"] == pytest.approx(0.4) and cmp["finetuned_row"]["accuracy"] == 1.0
        assert cmp["beats_prompt"] and cmp["paired"]["mcnemar_p"] < 0.001
        calls = server.count()
        out = cli(root, "compare", f"capital@{head}/fake/a", "capital/fake/b", "--no-eval")  # stored evals only
        assert out.returncode == 0, out.stderr
        assert "paired difference" in out.stdout and "+60.0 pts" in out.stdout
        assert "capital/fake/b is significantly better" in out.stdout
        assert server.count() == calls == 40  # the second compare made no call
        assert cli(root, "compare", "capital@nope/fake/a", "capital/fake/b").returncode == 2
        out = cli(root, "compare", "capital/fake/zzz", "capital/fake/b", "--no-eval")
        assert out.returncode == 2 and "no stored eval" in out.stderr


# --- max_length from the data, the estimate on every path, progress off a terminal --------------------

def test_max_length_is_chosen_from_the_data_warned_when_cut_and_refused_when_most_would_be():
    from promptops.finetune.data import AUTO_MAX_LENGTH, plan_lengths, truncate

    plan = plan_lengths([40, 300, 90], None)
    assert (plan.max_length, plan.chosen, plan.truncated, plan.warning()) == (300, True, 0, None)
    capped = plan_lengths([10, 20, AUTO_MAX_LENGTH + 500], None)
    assert capped.max_length == AUTO_MAX_LENGTH and capped.truncated == 1
    assert "1 of 3 example(s) are longer than max_length 2048" in capped.warning()
    assert plan_lengths([40, 300, 90], 256).truncated == 1
    with pytest.raises(PromptopsError, match=r"2 of 3 examples are longer than max_length 64.*most would lose") as e:
        plan_lengths([40, 300, 90], 64)
    assert "--set max_length=300" in e.value.one_line()
    row = {"input_ids": list(range(10)), "labels": [-100] * 7 + [7, 8, 9], "truncated": False, "prompt_tokens": 7}
    cut = truncate(row, 5)
    assert cut["input_ids"] == [5, 6, 7, 8, 9] and cut["labels"][-3:] == [7, 8, 9] and cut["truncated"]
    assert truncate(row, None) is row and truncate(row, 10) is row


def test_progress_lines_do_not_repeat_every_poll_off_a_terminal(capsys):
    from promptops.cli.jobs_cmd import _progress_printer

    now = [0.0]
    show = _progress_printer(is_terminal=False, clock=lambda: now[0])
    for step in range(1, 21):  # one poll a second, the step (and ETA) changing each time
        now[0] += 1.0
        show(FakeJob("running", progress={"phase": "train", "step": step, "total_steps": 40, "loss": 1.0 / step}))
    show(FakeJob("running", progress={"phase": "generate", "step": 40, "total_steps": 40}))
    show(FakeJob("succeeded", progress={"phase": "done", "step": 40, "total_steps": 40}))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and "step 1/40" in lines[0] and "(generate)" in lines[1] and "succeeded" in lines[2]
    quiet = _progress_printer(quiet=True, is_terminal=True)
    quiet(FakeJob("running", progress={"step": 1, "total_steps": 2}))
    quiet(FakeJob("succeeded", progress={"step": 2, "total_steps": 2}))
    assert capsys.readouterr().out.splitlines() == ["j1 succeeded  step 2/2"]


def test_estimate_beside_what_was_measured():
    from promptops.escalate.estimate import versus_measured

    created = datetime(2025, 1, 1, tzinfo=timezone.utc)
    est = {"steps": 30, "step_s": 10.5, "train_s": 315.0, "load_s": 12.0, "measured": True,
           "max_length": {"max_length": 400, "chosen": True, "examples": 360, "longest": 400, "mean": 310.0,
                          "truncated": 0}}
    job = FakeJob("succeeded", created_at=created, finished_at=created + timedelta(seconds=400),
                  metrics={"estimate": est, "steps": 30, "train_time_s": 330.0, "wall_time_s": 360.0,
                           "max_length": est["max_length"]})
    rows = {r[0]: r[1:] for r in versus_measured(job)}
    assert rows["seconds / step"] == ["10.50", "11.00"] and rows["training"] == ["5.2 min", "5.5 min"]
    assert rows["time to deliver"] == ["5.5 min", "6.7 min"] and rows["load + generate + save"][1] == "30 s"
    assert "400 tokens (chosen from the data" in rows["max_length"][1]
    assert versus_measured(FakeJob("succeeded", metrics={"steps": 3})) is None  # no estimate recorded


def test_force_escalates_a_prompt_with_too_little_history_and_records_it(logged, monkeypatch):
    from promptops.escalate import flow

    config, store, _ = logged
    add_runs(store, [0.5])
    made = []
    monkeypatch.setattr(flow.jobs, "create", lambda *a, **kw: made.append((a, kw)) or FakeJob("queued"))
    out = cli(config.root, "escalate", "capital", "--min-examples", "3")
    assert out.returncode == 4 and not made
    out = cli(config.root, "escalate", "capital", "--force", "--min-examples", "3", "--json")
    assert out.returncode == 0, out.stderr
    [d] = json.loads(out.stdout)
    assert d["status"] == TOO_LITTLE and d["escalated"]["forced"] is True and d["escalated"]["job"] == "j1"
    assert d["escalated"]["estimate"]["measured"] is True
    (_, kw), = made
    assert kw["extra"]["escalation"] == {"model": MODEL, "status": TOO_LITTLE, "forced": True,
                                         "reason": d["reason"]}


def test_manual_finetune_shows_the_estimate_refuses_long_examples_and_fills_in_the_measured(project, monkeypatch):
    root = Path(__file__).resolve().parents[1]
    monkeypatch.setenv("PROMPTOPS_JOB_TRAINER", "tests.test_jobs")
    monkeypatch.setenv("PYTHONPATH", str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    data = project / "data"
    data.mkdir()
    row = {"messages": [{"role": "user", "content": "What is the capital of Peru? " * 8},
                        {"role": "assistant", "content": "Lima"}]}
    (data / "train.jsonl").write_text((json.dumps(row) + "\n") * 8)
    out = cli(project, "finetune", "capital", "--dataset", str(data), "--set", "max_length=16")
    assert out.returncode == 2 and "8 of 8 examples are longer than max_length 16" in out.stderr
    assert open_store(load_config(project)).list_jobs() == []  # refused before any job
    out = cli(project, "finetune", "capital", "--dataset", str(data), "--max-steps", "4", "--wait", "-q")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "is fine-tuning worth it?" in out.stdout and "measured on this machine" in out.stdout
    assert "the estimate beside what was measured" in out.stdout and "timing" not in out.stdout
    [job] = open_store(load_config(project)).list_jobs()
    est = job.metrics["estimate"]
    assert est["measured"] is True and est["actual"]["steps"] == 4 and job.config["max_length"] == 69


@pytest.mark.slow
def test_the_probe_times_real_steps_on_the_embedded_model(tmp_path):
    """The real probe: the embedded model loaded quietly, every example tokenized, 2 steps timed."""
    import contextlib
    import io

    from promptops.escalate import measure as m
    from promptops.finetune import TrainConfig

    assert m.probe is not REAL_PROBE  # the autouse fake; this test runs the real one
    probe = REAL_PROBE
    row = {"messages": [{"role": "system", "content": "Classify: spam or ham."},
                        {"role": "user", "content": "WIN a free cruise now!!!"},
                        {"role": "assistant", "content": "spam"}]}
    path = tmp_path / "train.jsonl"
    path.write_text((json.dumps(row) + "\n") * 12)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            got = probe(TrainConfig(batch_size=4), path, steps=3)
        except PromptopsError as exc:
            pytest.skip(f"embedded model not available: {exc}")
    assert got.measured and got.steps_timed == 2 and got.step_s > 0 and got.load_s > 0
    assert got.lengths.chosen and got.lengths.truncated == 0 and got.lengths.max_length == got.lengths.longest
    assert "measured on this machine" in got.source()
    assert "GGUF" not in err.getvalue()  # quiet: no conversion progress bar
