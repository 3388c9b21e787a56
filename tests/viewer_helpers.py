"""Shared by the viewer tests: a project with real evals (the runner against the fake server) plus
runs written straight to the store where a test needs exact verdicts, and the viewer on a socket."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from promptops.project import Project
from promptops.server.testing import free_port, running
from promptops.server.viewer import create_viewer_app
from promptops.store import db
from promptops.testing.fake_openai import FakeOpenAI

from .helpers import capital_rules
from .test_server import WRONG, build_project

HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)">'


def add_run(store: Any, prompt: str, version: str, cases: dict[str, tuple[bool | None, str]], *,
            model: str = "fake/a", branch: str | None = "main", source: str = "cli", status: str = "finished",
            vars_of: Any = None) -> Any:
    """A finished run whose ``cases`` are ``case_id -> (passed, output)`` (``None``: an error)."""
    run = store.create_run(prompt=prompt, version=version, hash=version, fingerprint=secrets.token_hex(8),
                           models=[model], branch=branch, source=source)
    rows = [{"run_id": run.id, "prompt": prompt, "version": version, "model": model, "case_id": case,
             "vars": (vars_of(case) if vars_of else {"country": case}), "expected": f"exp-{case}", "output": output,
             "passed": passed, "reason": "" if passed else "expected something else",
             "error": "timeout after 30 s" if passed is None else None}
            for case, (passed, output) in cases.items()]
    store.add_results(rows)
    passed = sum(1 for p, _ in cases.values() if p)
    summary = {model: {"accuracy": passed / len(cases), "passed": passed, "failed": len(cases) - passed, "errors": 0,
                       "total": len(cases), "ci_low": None, "ci_high": None, "latency_p50_ms": None,
                       "cost_usd": 0.0}}
    return store.finish_run(run.id, status=status, summary=summary)


@contextmanager
def viewer(project: Any) -> Iterator[tuple[str, str]]:
    """The viewer app on a free loopback port: (base URL, token)."""
    port = free_port()
    token = secrets.token_urlsafe(16)
    app = create_viewer_app(project, host="127.0.0.1", port=port, token=token)
    with running(app, port=port) as url:
        yield url, token


@contextmanager
def viewer_site(root: Path) -> Iterator[SimpleNamespace]:
    """Two real evals of `capital` on main (v1 in production), then runs written to the store: a
    CI run of a feature branch (newer, 100%), a compared pair with known verdict changes (c1 broke,
    c2 fixed, c3 unchanged, c4 failed then errored), a run with a hostile output and a 1,000-case
    run; the viewer serving it. Yields ``url``, ``token``, ``ids`` (run ids), ``built``, ``project``."""
    with FakeOpenAI(rules=capital_rules(WRONG)) as fake:
        built = build_project(root, fake.base_url)
        store = built.store
        ids = {"main_v2": store.list_runs(prompt="capital", limit=1)[0].id}
        ids["ci"] = add_run(store, "capital", "f" * 12, {"peru": (True, "Lima")}, branch="feature-x", source="ci").id
        ids["base"] = add_run(store, "pair", "a" * 12, {"c1": (True, "one"), "c2": (False, "two"), "c3": (True, "three"),
                                                        "c4": (False, "four")}, branch="feature-y").id
        ids["head"] = add_run(store, "pair", "b" * 12, {"c1": (False, "uno"), "c2": (True, "dos"), "c3": (True, "tres"),
                                                        "c4": (None, "")}, branch="feature-y").id
        ids["hostile"] = add_run(store, "hostile", "c" * 12, {'<b id="x">case</b>': (False, HOSTILE)},
                                 vars_of=lambda case: {"text": HOSTILE}).id
        ids["big"] = add_run(store, "big", "d" * 12,
                             {f"case-{i:04d}": (i % 10 != 0, f"answer {i}") for i in range(1000)}).id
        project = Project(built.config, store=store)
        try:
            with viewer(project) as (url, token):
                yield SimpleNamespace(url=url, token=token, ids=ids, built=built, project=project)
        finally:
            db.dispose_engines()
