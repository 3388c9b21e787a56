"""Shared by the viewer tests: a project with real evals (the runner against the fake server) plus
runs written straight to the store where a test needs exact verdicts, and the viewer on a socket."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from promptops.server.testing import free_port, running
from promptops.server.viewer import create_viewer_app

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
