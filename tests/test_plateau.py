"""The escalation decision (gap, paired recent gains, optimization tried, budget) on histories like
the ones that never fired (TREC, SMS spam), per prompt × model, and `escalate`'s exit codes."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from promptops.config import load_config
from promptops.deploy.gate import gate_score
from promptops.escalate import (DECLINED, DUE, IMPROVING, NOTHING, PLATEAUED, TARGET_MET, TOO_LITTLE, check, decide,
                                record_optimization)
from promptops.escalate.decision import Optimization, VersionScore
from promptops.eval import stats
from promptops.store import open_store
from promptops.testing.pytest_plugin import CliInvoker
from tests.helpers import make_project

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
MODEL = "fake/a"
CASES = 120


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj", "http://127.0.0.1:9/v1")


def cli(root: Path, *args: str):
    return CliInvoker()(*args, cwd=root, env={"PROMPTOPS_ROOT": None}, code=None)


def add_version(store, i: int, passed: int, *, model=MODEL, n=CASES, prompt="capital", source="cli", day=None):
    """A finished run of version v<i> on ``model`` with per-case results: the first ``passed`` cases pass."""
    acc = passed / n
    low, high = stats.wilson(passed, n)
    run = store.create_run(prompt=prompt, version=f"v{i:02d}", hash=f"h{i:02d}", commit=None, branch="main",
                           models=[model], fingerprint=f"fp{i}{model}{source}", status="finished", source=source,
                           started_at=T0 + timedelta(days=i if day is None else day),
                           summary={model: {"accuracy": acc, "ci_low": low, "ci_high": high, "total": n}})
    store.add_results([{"run_id": run.id, "prompt": prompt, "version": f"v{i:02d}", "model": model,
                        "case_id": f"c{k:03d}", "repeat_index": 0, "passed": k < passed} for k in range(n)])
    return run


def mark_optimized(store, i: int, *, day: float, prompt="capital"):
    """What `promptops optimize` records (record_optimization): started from version v<i>."""
    class Start:  # the version the search started from
        name, version, hash = prompt, f"v{i:02d}", f"h{i:02d}"

    return record_optimization(store, Start, best_accuracy=0.99, baseline_accuracy=0.3, candidates=7,
                               started_at=T0 + timedelta(days=day))


def vs(*accs, n=CASES):
    out = []
    for i, a in enumerate(accs):
        low, high = stats.wilson(round(a * n), n)
        out.append(VersionScore(f"v{i}", f"h{i}", a, T0 + timedelta(days=i), ci_low=low, ci_high=high, total=n))
    return out


def first_k_pass(n=CASES):
    """pair(a, b) for made-up versions whose first round(acc × n) cases pass (nested: b ⊇ a when higher)."""
    def pair(a, b):
        return stats.paired([k < round(a.accuracy * n) for k in range(n)], [k < round(b.accuracy * n) for k in range(n)])
    return pair


OPT = Optimization(run_id=9, hash="h2", at=T0 + timedelta(days=3), current=True)


# --- the rule -----------------------------------------------------------------------------------------

def test_trec_like_history_is_improving_by_hand_and_plateaued_once_optimization_was_tried():
    """0% → 10% → 23% (a poor few-shot version), target 90%: significant gains each time, so without
    optimization it keeps "improving"; once optimization was tried (still 23%) it plateaus."""
    scores = vs(0.0, 0.10, 0.233)
    kw = dict(target=0.9, window=2, delta=0.02, pair=first_k_pass(), name="trec")
    hand = decide(scores, **kw)
    assert hand.status == IMPROVING and hand.gain.significant and hand.gain.cases == CASES
    assert "optimize trec" in hand.next and hand.action == NOTHING
    opt = decide(scores, optimization=OPT, **kw)
    assert opt.status == PLATEAUED and opt.action == DUE and opt.well_below
    assert "optimization was tried" in opt.reason and "well out of reach" in opt.reason
    assert opt.next == "escalate: promptops escalate trec"


def test_sms_like_history_with_the_default_window_is_too_little_then_plateaus_when_optimized():
    """Three versions, window 3 (50% → 50% → 50%... then optimized): too little by hand, and it says
    what would change it; with an optimization marker the same three versions plateau."""
    scores = vs(0.0, 0.5, 0.5)
    hand = decide(scores, target=0.9, pair=first_k_pass(), name="sms")
    assert hand.status == TOO_LITTLE and hand.action == DECLINED
    assert "3 version(s) scored" in hand.reason
    assert "promptops optimize sms" in hand.next and "score 1 more version(s)" in hand.next
    assert "--force" in hand.next
    assert decide(scores, target=0.9, pair=first_k_pass(), optimization=OPT).status == PLATEAUED


def test_optimized_with_a_significant_gain_close_to_the_target_is_still_improving():
    scores = vs(0.5, 0.84)  # 84% [76–89], target 88%: within the best's interval
    d = decide(scores, target=0.88, pair=first_k_pass(), optimization=OPT)
    assert d.status == IMPROVING and d.well_below is False


def test_a_stale_marker_does_not_count():
    stale = Optimization(run_id=9, hash="h0", at=T0, current=False)
    d = decide(vs(0.0, 0.1, 0.23), target=0.9, window=2, pair=first_k_pass(), optimization=stale)
    assert d.status == IMPROVING and any("predates" in n for n in d.notes)


def test_paired_noise_is_not_a_gain_and_the_budget_ends_steady_small_gains():
    # +3.3 points on 120 cases: more than delta, but McNemar p = 0.125: not significant, so flat
    d = decide(vs(0.40, 0.45, 0.48, 0.47, 0.483), target=0.9, pair=first_k_pass())
    assert d.status == PLATEAUED and not d.gain.significant and d.gain.p_value > 0.05
    assert "not significantly better" in d.reason and "optimize" in d.next
    # significant gains by hand, far below target: improving until the budget of versions is spent
    climbing = vs(0.0, 0.1, 0.2, 0.3, 0.4)
    assert decide(climbing, target=0.95, pair=first_k_pass(), budget=8).status == IMPROVING
    spent = decide(climbing, target=0.95, pair=first_k_pass(), budget=5)
    assert spent.status == PLATEAUED and "budget of 5 versions is spent" in spent.reason


def test_met_no_target_and_nothing_scored():
    assert decide(vs(0.5, 0.95), target=0.9).status == TARGET_MET
    assert decide(vs(0.5), target=None).action == NOTHING
    none = decide([], target=0.9, name="x")
    assert none.status == TOO_LITTLE and "promptops eval x" in none.next


# --- from the store: paired results, the marker, every model with history -----------------------------

def test_check_pairs_on_stored_results_reads_the_marker_and_every_model(project: Path):
    config = load_config(project)
    store = open_store(config)
    for i, passed in enumerate((0, 12, 20, 28)):
        add_version(store, i, passed)
    for i, passed in enumerate((30, 31, 30, 31)):  # another model, flat: never declared in the prompt
        add_version(store, 10 + i, passed, model="fake/b", day=i)
    [a, b] = check(config, ["capital"])
    assert (a.model, a.status) == (MODEL, IMPROVING)
    assert a.decision.gain.cases == CASES and a.decision.gain.p_value < 1e-3
    assert (b.model, b.status) == ("fake/b", PLATEAUED)
    mark_optimized(store, 3, day=3.5)
    [a, _] = check(config, ["capital"])
    assert a.status == PLATEAUED and a.optimization.current and a.optimization.run_id
    assert a.optimization.accuracy == 0.99
    # the marker's validation accuracy is never a suite score: not for the decision, not for the promotion gate
    start = type("P", (), {"name": "capital", "hash": "h03"})
    assert gate_score(config, start, MODEL, store=store) == pytest.approx(28 / CASES)
    assert [s.version for s in a.scores] == ["v00", "v01", "v02", "v03"]  # the optimize run is not a score
    # the version the search wrote, scored on the suite afterwards, keeps the marker current
    class Start:
        name, version, hash = "capital", "v03", "h03"
    record_optimization(store, Start, best_accuracy=0.4, written_version="v04", started_at=T0 + timedelta(days=3.7))
    add_version(store, 4, 29)
    [a, _] = check(config, ["capital"])
    assert a.optimization.current and a.status == PLATEAUED
    # a hand-written version scored after the marker makes it stale
    add_version(store, 5, 30)
    [a, _] = check(config, ["capital"])
    assert not a.optimization.current and a.status == IMPROVING


def test_check_json_and_exit_codes(project: Path):
    config = load_config(project)
    store = open_store(config)
    add_version(store, 0, 0)
    out = cli(project, "escalate", "--check", "--json")
    assert out.returncode == 4, out.stdout + out.stderr  # too little history: declined, not "nothing to do"
    [d] = json.loads(out.stdout)
    assert d["status"] == TOO_LITTLE and d["action"] == DECLINED and "promptops optimize capital" in d["next"]
    add_version(store, 1, 30)
    mark_optimized(store, 1, day=1.5)
    out = cli(project, "escalate", "--check", "--json")
    assert out.returncode == 3
    [d] = json.loads(out.stdout)
    assert d["status"] == PLATEAUED and d["optimization"]["current"] is True
    assert d["recent_gain"]["paired_cases"] == CASES and d["recent_gain"]["significant"] is True
    out = cli(project, "escalate", "--check")
    assert out.returncode == 3 and "optimization was tried" in out.stdout
    add_version(store, 2, 110)
    assert cli(project, "escalate", "--check").returncode == 0  # target met


def test_escalate_exit_codes_without_a_job(project: Path):
    config = load_config(project)
    store = open_store(config)
    add_version(store, 0, 10)
    out = cli(project, "escalate", "capital")
    assert out.returncode == 4 and "nothing escalated: too little history" in out.stdout
    out = cli(project, "escalate", "capital", "--json")
    assert out.returncode == 4 and json.loads(out.stdout)[0]["escalated"] is None
    add_version(store, 1, 110)
    out = cli(project, "escalate", "capital")
    assert out.returncode == 5 and "nothing has plateaued" in out.stdout
    assert cli(project, "escalate", "--force").returncode == 2  # --force needs names
    assert cli(project, "escalate", "capital", "--force", "--check").returncode == 2
