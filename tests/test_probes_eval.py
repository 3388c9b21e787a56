"""Probe of concurrent evals (issue "Reliability and security", item 9): two evals of the same prompt
started together make each call once; the second waits for the first and reuses its answers."""

from __future__ import annotations

import threading

from promptops.config import load_config
from promptops.eval.evaluate import evaluate


def test_two_evals_of_the_same_prompt_at_once_make_each_call_once(git_project, fake_openai) -> None:
    fake_openai.configure(latency=0.05)
    reports: list = []

    def one() -> None:
        reports.append(evaluate(load_config(git_project), ["capital"], concurrency=4))

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 2
    cases = 20 * len(reports[0].evals[0].summaries)  # 20 capitals on each model of the prompt
    assert fake_openai.stats()["total"] == cases  # not 2 x cases
    assert sorted(r.calls for r in reports) == [0, cases] and sorted(r.cached for r in reports) == [0, cases]
    assert [s.accuracy for r in reports for s in r.evals[0].summaries] == [1.0] * (2 * len(reports[0].evals[0].summaries))
