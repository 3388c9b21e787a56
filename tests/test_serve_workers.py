"""``promptops serve --workers N``: uvicorn is started with the worker factory and the project
root, and the factory builds the app of that project in the worker process."""

from __future__ import annotations

import os

import uvicorn
from fastapi.testclient import TestClient

from promptops.server.app import WORKER_ROOT_ENV, worker_app
from promptops.testing.pytest_plugin import CliInvoker

from .helpers import make_project


def test_serve_with_workers_starts_uvicorn_workers_on_the_factory(tmp_path, monkeypatch):
    root = make_project(tmp_path, "http://127.0.0.1:9/v1")
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.delenv(WORKER_ROOT_ENV, raising=False)
    out = CliInvoker()("serve", "--workers", "3", "--port", "9999", env={"PROMPTOPS_ROOT": str(root)})
    assert "with 3 workers" in out.stderr
    assert (seen["app"], seen["factory"], seen["workers"], seen["port"]) == (
        "promptops.server.app:worker_app", True, 3, 9999)
    assert os.environ[WORKER_ROOT_ENV] == str(root)
    with TestClient(worker_app()) as client:  # what each worker process builds
        assert client.get("/health").json()["status"] == "ok"
    CliInvoker()("serve", "--workers", "0", env={"PROMPTOPS_ROOT": str(root)}, code=2)
