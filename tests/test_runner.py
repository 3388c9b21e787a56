"""The eval runner against the fake OpenAI-compatible server: exact accuracy, retries, errors,
cache, resume after a kill, and no secret anywhere."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptops.config import load_config
from promptops.eval.evaluate import evaluate
from promptops.store import open_store
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import CAPITALS, capital_rules, make_project

WRONG = {"Peru", "Chile", "Cuba", "Oman", "Qatar"}


@pytest.fixture()
def server():
    with FakeOpenAI(rules=capital_rules(WRONG)) as srv:
        yield srv


def test_exact_accuracy_two_models(tmp_path, server):
    root = make_project(tmp_path, server.base_url, models=("fake/a", "fake/b"))
    report = evaluate(load_config(root))
    assert [s.model for s in report.summaries] == ["fake/a", "fake/b"]
    for s in report.summaries:
        assert (s.total, s.passed, s.failed, s.errors) == (20, 15, 5, 0)
        assert s.accuracy == 0.75 and 0.5 < s.ci_low < 0.75 < s.ci_high < 0.95
        failing = {r.vars["country"] for r in s.results if not r.passed}
        assert failing == WRONG
    assert server.count() == 40 and report.calls == 40
    assert 0 < report.calls_s < report.duration_s  # call time, litellm's import excluded


def test_rerun_is_served_from_cache(tmp_path, server):
    root = make_project(tmp_path, server.base_url)
    evaluate(load_config(root))
    server.reset()
    report = evaluate(load_config(root))
    assert server.count() == 0 and report.cached == 20 and report.calls_s is None
    assert all(r.cached for r in report.summaries[0].results)
    assert report.summaries[0].accuracy == 0.75
    server.reset()
    evaluate(load_config(root), use_cache=False)
    assert server.count() == 20


def test_transient_errors_are_retried_to_the_right_result(tmp_path, server):
    server.configure(fail_first=2, fail_status=429)
    root = make_project(tmp_path, server.base_url)
    s = evaluate(load_config(root)).summaries[0]
    assert (s.passed, s.errors) == (15, 0)
    assert server.count() == 60  # two failures, then the answer, for each case
    server.configure(fail_first=1, fail_status=500)
    server.reset()
    s = evaluate(load_config(root), use_cache=False).summaries[0]
    assert (s.passed, s.errors) == (15, 0)


def test_timeouts_are_retried(tmp_path, server):
    root = make_project(tmp_path, server.base_url, countries=["France", "Spain"],
                        extra_config={"timeout": 0.5})
    server.configure(fail_first=1, fail_status=500, rate_timeout=0.0)
    s = evaluate(load_config(root)).summaries[0]
    assert s.passed == 2


def test_permanent_failures_are_errors_not_crashes(tmp_path, server):
    server.configure(rate_500=1.0)
    root = make_project(tmp_path, server.base_url, extra_config={"max_retries": 1})
    s = evaluate(load_config(root)).summaries[0]
    assert (s.total, s.passed, s.failed, s.errors) == (20, 0, 0, 20)
    assert s.accuracy == 0.0
    assert all(r.error and r.error.startswith("server") for r in s.results)
    server.configure(rate_500=0.0)
    server.reset()
    s = evaluate(load_config(root)).summaries[0]  # errors are never cached
    assert s.errors == 0 and server.count() == 20


def test_unknown_model_is_an_error_result(tmp_path, server):
    server.configure(known_models=["a"])
    root = make_project(tmp_path, server.base_url, models=("fake/a", "fake/zzz"))
    a, z = evaluate(load_config(root)).summaries
    assert a.errors == 0 and z.errors == 20 and "not_found" in z.results[0].error


def test_api_key_never_written(tmp_path, server, monkeypatch):
    secret = "sk-test-" + "9" * 24
    server.configure(api_key=secret)
    monkeypatch.setenv("FAKE_KEY", secret)
    root = make_project(tmp_path, server.base_url, key_env="FAKE_KEY")
    report = evaluate(load_config(root))
    assert report.summaries[0].passed == 15
    from promptops.reports import render_html, render_markdown, to_json

    for text in (to_json(report), render_markdown(report), render_html(report)):
        assert secret not in text
    monkeypatch.setenv("FAKE_KEY", "sk-wrong-" + "1" * 24)
    bad = evaluate(load_config(root), use_cache=False).summaries[0]
    assert bad.errors == 20 and "auth" in bad.results[0].error
    assert "sk-wrong" not in bad.results[0].error
    for path in (root / ".promptops").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert secret.encode() not in data and b"sk-wrong" not in data


def test_repeat_gives_pass_hat_k(tmp_path, server):
    root = make_project(tmp_path, server.base_url, countries=["France", "Peru"])
    s = evaluate(load_config(root), repeat=3).summaries[0]
    assert s.total == 6 and s.pass_hat_k == 0.5 and s.consistency == 1.0
    assert server.count() == 6  # repeats are independent calls, never cache hits of each other


def test_reports_have_the_contract_fields(tmp_path, server):
    root = make_project(tmp_path, server.base_url)
    report = evaluate(load_config(root))
    data = json.loads(__import__("promptops.reports", fromlist=["to_json"]).to_json(report))
    entry = data["results"][0]
    for key in ("prompt", "version", "model", "total", "passed", "failed", "errors", "accuracy", "ci_low",
                "ci_high", "latency_p50_ms", "latency_p95_ms", "cost_usd", "duration_s", "results"):
        assert key in entry, key
    case = entry["results"][0]
    for key in ("case_id", "vars", "output", "pass", "score", "reason", "cached", "error"):
        assert key in case, key
    assert case["pass"] is False  # failures come first


def test_killed_eval_resumes_without_repeating_calls(tmp_path):
    with FakeOpenAI(latency=0.2, rules=capital_rules()) as server:
        countries = list(CAPITALS)
        root = make_project(tmp_path, server.base_url, countries=countries,
                            extra_config={"concurrency": 2})
        env = {**os.environ, "PROMPTOPS_ROOT": str(root)}
        proc = subprocess.Popen([sys.executable, "-m", "promptops.cli.main", "eval", "-q"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        store = None
        deadline = time.time() + 60
        done = 0
        while time.time() < deadline:
            time.sleep(0.2)
            if (root / ".promptops" / "promptops.db").exists():
                store = store or open_store(load_config(root))
                runs = store.list_runs(prompt="capital")
                if runs:
                    done = len(store.done_keys(runs[0].id))
                    if done >= 6:
                        break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first_calls = server.count()
        done = len(store.done_keys(store.list_runs(prompt="capital")[0].id))
        assert 6 <= done < 20
        server.reset()
        report = evaluate(load_config(root))
        s = report.summaries[0]
        assert s.total == 20 and s.passed == 20
        assert server.count() == 20 - done  # only what was missing
        assert first_calls >= done


def test_worker_processes_give_the_same_results(tmp_path, server, monkeypatch):
    """Calls spread over worker processes: same accuracy, every call made once, results stored."""
    monkeypatch.setenv("PROMPTOPS_WORKERS", "2")
    root = make_project(tmp_path, server.base_url, models=("fake/a", "fake/b"))
    report = evaluate(load_config(root))
    for s in report.summaries:
        assert (s.total, s.passed, s.failed, s.errors) == (20, 15, 5, 0)
    assert server.count() == 40
    assert 0 < report.calls_s < report.duration_s
    store = open_store(load_config(root))
    assert len(store.results(report.evals[0].run_id)) == 40


def _forkserver_workers() -> list[int]:
    """Worker processes of this test process: children of its multiprocessing forkserver."""
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmd = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            procs[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]), b"forkserver" in cmd)
    servers = {pid for pid, (ppid, fs) in procs.items() if fs and ppid == os.getpid()}
    return [pid for pid, (ppid, _) in procs.items() if ppid in servers]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_killed_worker_loses_nothing(tmp_path, monkeypatch):
    """kill -9 of a worker process mid-eval: its calls become error results (never a hang or a
    crash), every case is accounted for, and a rerun makes exactly the calls that errored."""
    import threading

    monkeypatch.setenv("PROMPTOPS_WORKERS", "2")
    with FakeOpenAI(latency=0.1, rules=capital_rules(WRONG)) as server:
        root = make_project(tmp_path, server.base_url, models=("fake/a", "fake/b"),
                            extra_config={"concurrency": 4, "max_retries": 0})
        killed: list[int] = []

        def killer() -> None:
            deadline = time.time() + 60
            while time.time() < deadline and not killed:
                workers = _forkserver_workers()
                if server.count() >= 6 and len(workers) == 2:
                    os.kill(workers[0], signal.SIGKILL)
                    killed.append(workers[0])
                time.sleep(0.02)

        thread = threading.Thread(target=killer)
        thread.start()
        report = evaluate(load_config(root))
        thread.join()
        assert killed
        first = report.summaries
        errors = sum(s.errors for s in first)
        assert all(s.total == 20 and s.passed + s.failed + s.errors == 20 for s in first)
        assert errors > 0
        assert all("worker" in r.error for s in first for r in s.results if r.error)
        server.reset()
        again = evaluate(load_config(root)).summaries
        assert [(s.total, s.passed, s.failed, s.errors) for s in again] == [(20, 15, 5, 0)] * 2
        assert server.count() == errors  # answered calls came from the cache


def _descendants(root_pid: int) -> set[int]:
    """Live processes under ``root_pid`` (zombies count as gone)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [root_pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_end_with_the_main_process(tmp_path, sig):
    """kill -9 (or SIGTERM) of the eval's main process: the forkserver and the workers end with it
    and make no more calls (they used to live on, calling the provider)."""
    with FakeOpenAI(latency=0.3, rules=capital_rules()) as server:
        root = make_project(tmp_path, server.base_url, models=("fake/a", "fake/b"),
                            extra_config={"concurrency": 2})
        env = {**os.environ, "PROMPTOPS_ROOT": str(root), "PROMPTOPS_WORKERS": "2"}
        proc = subprocess.Popen([sys.executable, "-m", "promptops.cli.main", "eval", "-q"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60
        tree: set[int] = set()
        while time.time() < deadline and proc.poll() is None:
            tree = _descendants(proc.pid)
            if server.count() >= 4 and len(tree) >= 3:  # forkserver + 2 workers, calling
                break
            time.sleep(0.05)
        assert proc.poll() is None and len(tree) >= 3, "the eval ended before its workers were seen"
        proc.send_signal(sig)
        proc.wait()
        deadline = time.time() + 10
        while _alive(tree) and time.time() < deadline:
            time.sleep(0.05)
        assert not _alive(tree)
        calls = server.count()
        time.sleep(1.0)
        assert server.count() == calls < 40  # nothing calls any more; the eval did not finish


def test_workers_use_the_environment_of_each_eval(tmp_path, monkeypatch):
    """Worker processes fork from a long-lived forkserver; each eval's environment (an API key
    changed since the forkserver started, say) is the one its workers call with."""
    monkeypatch.setenv("PROMPTOPS_WORKERS", "2")
    for n, key in enumerate(("first-key-123456", "second-key-654321")):
        monkeypatch.setenv("FAKE_KEY", key)
        with FakeOpenAI(rules=capital_rules(WRONG), api_key=key) as server:
            root = make_project(tmp_path / str(n), server.base_url, models=("fake/a", "fake/b"),
                                key_env="FAKE_KEY")
            report = evaluate(load_config(root))
            assert [(s.passed, s.errors) for s in report.summaries] == [(15, 0), (15, 0)]
            assert server.count() == 40


@pytest.mark.parametrize("model_limit", [3, 1])
def test_workers_keep_the_global_and_per_model_limits(tmp_path, monkeypatch, model_limit):
    """Split over worker processes, the calls in flight never exceed the global limit nor a
    model's own (counted at the server); a model limited below the worker count keeps its limit."""
    import yaml

    monkeypatch.setenv("PROMPTOPS_WORKERS", "2")
    with FakeOpenAI(latency=0.05, rules=capital_rules(WRONG)) as server:
        root = make_project(tmp_path, server.base_url, models=("fake/a", "fake/b"), extra_config={"concurrency": 5})
        config = yaml.safe_load((root / "promptops.yaml").read_text())
        config["models"]["fake/a"]["concurrency"] = model_limit
        (root / "promptops.yaml").write_text(yaml.safe_dump(config))
        report = evaluate(load_config(root))
        assert [(s.passed, s.errors) for s in report.summaries] == [(15, 0), (15, 0)]
        assert server.peak_in_flight() <= 5
        assert server.peak_in_flight("a") <= model_limit
        assert server.peak_in_flight() >= 3  # the limits were used, not just respected


def test_a_worker_turns_an_unexpected_exception_into_the_calls_error():
    """Whatever goes wrong inside a worker's call comes back as that call's error result."""
    import asyncio

    from promptops.eval.workers import CallSpec, answer

    class Exploding:
        def model_options(self, name):
            raise RuntimeError("boom")

    spec = CallSpec(7, "fake/a", [{"role": "user", "content": "hi"}], {})
    index, response, error = asyncio.run(answer(Exploding(), spec, [], {}, asyncio.Semaphore(1), 1, 0))
    assert (index, response) == (7, None) and error == "worker: RuntimeError: boom"


def test_limits_split_into_parts_that_add_up():
    from promptops.eval.calls import share

    for total in (1, 2, 5, 50, 51):
        for n in range(1, min(total, 8) + 1):
            parts = [share(total, n, w) for w in range(n)]
            assert sum(parts) == total and min(parts) >= 1 and max(parts) - min(parts) <= 1


@pytest.mark.parametrize("asked,low,high", [(3.0, 3.0, 3.0), (None, 0.25, 0.5), (500.0, 60.0, 60.0), (0.0, 0.25, 0.5)])
def test_retries_wait_what_retry_after_asks(monkeypatch, asked, low, high):
    """A Retry-After longer than the backoff is waited (capped at MAX_RETRY_AFTER); a shorter
    one, or none, leaves the jittered backoff."""
    import asyncio

    from promptops.config import Config
    from promptops.eval import calls
    from promptops.providers import ProviderError

    waits: list[float] = []
    attempts = []

    async def failing(model, messages, params, *, config):
        attempts.append(model)
        raise ProviderError("rate_limit", "slow down", status_code=429, retry_after=asked)

    async def sleep(seconds):
        waits.append(seconds)

    monkeypatch.setattr(calls, "complete", failing)
    monkeypatch.setattr(calls.asyncio, "sleep", sleep)

    class Job:
        model, messages, params = "m", [], {}

    response, error = asyncio.run(calls.call_with_retries(Config(max_retries=1, retry_backoff=0.5), Job(), []))
    assert response is None and error.startswith("rate_limit") and "after 2 attempts" in error
    assert len(attempts) == 2 and len(waits) == 1
    assert low <= waits[0] <= high
