"""The on-demand local Ray: with no ``ray.address``, a ray-backend job starts ``ray start --head --block``
for the project, runs there, and :func:`ray_backend.stop_local` shuts that Ray down, every process it
started included (no raylet left), and no other Ray on the machine. The fake trainer of
tests/test_jobs.py stands in for the real one. Its own module: the Ray of tests/test_ray_jobs.py is
another cluster, started by ``ray.init`` in that module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from promptops.config import load_config
from promptops.finetune import jobs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def project(tmp_path, monkeypatch):
    pytest.importorskip("ray.job_submission")
    root = tmp_path / "proj"
    (root / "prompts").mkdir(parents=True)
    (root / "promptops.yaml").write_text("finetune:\n  backend: ray\nray:\n  local_cpus: 2\n")
    data = root / "data"
    data.mkdir()
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]}
    (data / "train.jsonl").write_text((json.dumps(row) + "\n") * 8)
    (data / "val.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("PROMPTOPS_JOB_TRAINER", "tests.test_ray_jobs")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("PROMPTOPS_JOB_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("PROMPTOPS_TEST_STEP_S", "0.02")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return root


def test_a_local_ray_is_started_on_demand_runs_the_job_and_stops_cleanly(project):
    psutil = pytest.importorskip("psutil")
    from promptops.finetune import ray_backend

    config = load_config(project)
    assert config.ray.address is None
    try:
        job = jobs.create(config, "greet", project / "data", {"max_steps": 5})
        saved = json.loads((config.state_path / "ray.json").read_text())
        head = psutil.Process(saved["pid"])
        started = [head, *head.children(recursive=True)]
        assert any("raylet" in p.name() or "raylet" in " ".join(p.cmdline()) for p in started)
        assert job.metrics["ray"]["address"] == saved["address"]
        done = jobs.wait(config, job.id, poll_s=0.2, timeout_s=180)
        assert done.status == "succeeded", done.error
        assert done.progress["step"] == 5 and done.metrics["backend"] == "ray"
        again = jobs.create(config, "greet", project / "data", {"max_steps": 2})  # the same Ray, not a new one
        assert again.metrics["ray"]["address"] == saved["address"]
        assert jobs.wait(config, again.id, poll_s=0.2, timeout_s=120).status == "succeeded"
        started = [head, *head.children(recursive=True)]
    finally:
        stopped = ray_backend.stop_local(config)
    assert stopped and not (config.state_path / "ray.json").exists()
    from ray._common.utils import get_ray_address_file

    current = Path(get_ray_address_file(None))  # ray.init() elsewhere must not look for the stopped cluster
    assert not current.is_file() or not current.read_text().strip().endswith(f":{saved['gcs_port']}")
    _, alive = psutil.wait_procs(started, timeout=30)
    assert [p for p in alive if p.status() != psutil.STATUS_ZOMBIE] == []  # no raylet, GCS or dashboard left
    assert ray_backend.stop_local(config) is False  # nothing left to stop
