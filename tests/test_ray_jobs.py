"""Fine-tune jobs through Ray: a local Ray (2 CPUs, started once for this module and shut down after)
runs the worker as a Ray job; the record follows it; cancel, a killed worker and resume; resources
no node has; shared artifacts through an fsspec URL. The fast fake trainer of tests/test_jobs.py
stands in for the real one (its step delay comes through ``PROMPTOPS_TEST_STEP_S``, a variable the
Ray job inherits); one slow test trains for real and answers through ``local/smollm2+<job>``.
Bad input that needs no cluster (Ray missing, an unreachable address, a missing fsspec filesystem)
runs without starting Ray.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from promptops.config import load_config
from promptops.finetune import jobs
from promptops.localmodels import artifacts
from promptops.localmodels.resolve import with_adapter_path
from promptops.store import open_store
from tests import test_jobs
from tests.test_jobs import wait_for

ROOT = Path(__file__).resolve().parents[1]


def train(*args, **kwargs):  # the fake trainer, in the Ray job's worker process
    os.environ["FAKE_STEP_S"] = os.environ.get("PROMPTOPS_TEST_STEP_S", "0.05")
    return test_jobs.train(*args, **kwargs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_address():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.job_submission")
    for attempt in range(3):  # Ray waits a fixed 30 s for its raylet: a loaded machine may need a second try
        try:
            ctx = ray.init(address="local", num_cpus=2, include_dashboard=True,  # a new one, never another's dashboard_host="127.0.0.1",
                           dashboard_port=_free_port(), log_to_driver=False, configure_logging=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield "http://" + ctx.dashboard_url
    finally:
        ray.shutdown()


def _project(tmp_path, monkeypatch, address, name="proj", artifacts_url=None):
    root = tmp_path / name
    (root / "prompts").mkdir(parents=True)
    lines = ["default_model: local/smollm2", "finetune:", "  backend: ray", "ray:", f"  address: {address}"]
    if artifacts_url:
        lines += ["artifacts:", f"  url: {artifacts_url}"]
    (root / "promptops.yaml").write_text("\n".join(lines) + "\n")
    data = root / "data"
    data.mkdir()
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]}
    (data / "train.jsonl").write_text((json.dumps(row) + "\n") * 8)
    (data / "val.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("PROMPTOPS_JOB_TRAINER", "tests.test_ray_jobs")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("PROMPTOPS_JOB_HEARTBEAT_S", "0.5")
    monkeypatch.setenv("PROMPTOPS_TEST_STEP_S", "0.05")
    return root


@pytest.fixture()
def shared(tmp_path):
    return tmp_path / "shared"


@pytest.fixture()
def project(tmp_path, monkeypatch, ray_address, shared):
    return _project(tmp_path, monkeypatch, ray_address, artifacts_url=shared.as_uri())


def test_a_ray_job_reaches_the_record_and_its_adapter_any_machine_with_the_url(project, tmp_path, monkeypatch,
                                                                                ray_address, shared, cli):
    """finetune --backend ray --wait --json: submitted, followed, the whole record printed; the adapter
    in shared storage resolves as local/smollm2+<job> through the job record in another project that
    shares the database but has no artifacts.url."""
    run = lambda *a: cli(*a, cwd=project, env={"PROMPTOPS_ROOT": None}, code=None)
    out = run("finetune", "greet", "--dataset", str(project / "data"), "--backend", "ray", "--max-steps", "10",
              "--set", "lora_r=4", "--measure-steps", "0", "--wait", "--json")
    assert out.returncode == 0, out.stderr
    record = json.loads(out.stdout)
    job_id = record["id"]
    assert record["status"] == "succeeded" and record["backend"] == "ray", record["error"]
    assert record["ray_job_id"] == f"promptops-{job_id}" and record["node"]  # the Ray node id
    assert record["progress"]["step"] == 10 and record["progress"]["curve"] and record["metrics"]["losses"]
    assert record["heartbeat_at"] and record["model"] == f"local/smollm2+{job_id}" and record["pid"]
    assert record["artifact_url"] == f"{shared.as_uri()}/adapters/{job_id}"
    assert (shared / "adapters" / job_id / "adapter_config.json").is_file()
    shown = json.loads(run("jobs", "show", job_id, "--json").stdout)
    assert shown["ray_job_id"] == record["ray_job_id"] and shown["metrics"]["losses"]
    # another machine: the same database, no artifacts.url of its own, the trainer's folder not there
    import shutil

    shutil.rmtree(project / ".promptops" / "adapters" / job_id)
    other = _project(tmp_path, monkeypatch, ray_address, name="other")
    with (other / "promptops.yaml").open("a") as f:
        f.write(f"database_url: {load_config(project).db_url()}\n")
    resolved = with_adapter_path(f"local/smollm2+{job_id}", load_config(other).adapter_dirs, load_config(other))
    cached = other / ".promptops" / "cache" / "adapters" / job_id
    assert resolved == f"local/smollm2+{cached}" and (cached / "adapter_config.json").is_file()


def test_cancel_goes_through_ray_and_resume_continues_from_the_shared_checkpoint(project, monkeypatch, shared):
    monkeypatch.setenv("PROMPTOPS_TEST_STEP_S", "0.2")
    config = load_config(project)
    store = open_store(config)
    job = jobs.create(config, "greet", project / "data", {"max_steps": 300})
    wait_for(lambda: (store.get_job(job.id).progress or {}).get("step", 0) >= 2, timeout=120)
    assert jobs.cancel(config, job.id).status == "cancelled"
    from ray.job_submission import JobSubmissionClient

    ray_client = JobSubmissionClient(job.metrics["ray"]["address"])
    wait_for(lambda: str(ray_client.get_job_status(job.metrics["ray"]["job_id"])) in
             ("STOPPED", "SUCCEEDED", "JobStatus.STOPPED", "JobStatus.SUCCEEDED"), timeout=60)
    assert jobs.get(config, job.id).status == "cancelled"  # not turned into failed by the ended Ray job
    wait_for(lambda: (shared / "checkpoints" / job.id / "checkpoint.json").is_file(), timeout=30)
    # resume on a machine without the work folder: the shared checkpoint is fetched
    import shutil

    shutil.rmtree(jobs.work_dir(config, job.id))
    monkeypatch.setenv("PROMPTOPS_TEST_STEP_S", "0.001")
    resumed = jobs.resume(config, job.id)
    assert resumed.metrics["ray"]["job_id"] == f"promptops-{job.id}-r1"
    done = jobs.wait(config, job.id, poll_s=0.2, timeout_s=120)
    assert done.status == "succeeded", done.error
    assert done.metrics["resumed_from_step"] >= 2 and done.metrics["resumes"] == 1


def test_a_killed_ray_worker_fails_the_job_with_its_cause_and_resumes(project, monkeypatch):
    monkeypatch.setenv("PROMPTOPS_TEST_STEP_S", "0.2")
    config = load_config(project)
    store = open_store(config)
    job = jobs.create(config, "greet", project / "data", {"max_steps": 300})
    running = wait_for(lambda: (j := store.get_job(job.id)).pid and (j.progress or {}).get("step", 0) >= 2 and j,
                       timeout=120)
    os.kill(running.pid, signal.SIGKILL)
    failed = wait_for(lambda: (j := jobs.get(config, job.id)).status == "failed" and j, timeout=60)
    assert ("Ray job" in failed.error or "killed or crashed" in failed.error) and "jobs resume" in failed.error
    monkeypatch.setenv("PROMPTOPS_TEST_STEP_S", "0.001")
    jobs.resume(config, job.id)
    done = jobs.wait(config, job.id, poll_s=0.2, timeout_s=120)
    assert done.status == "succeeded", done.error
    assert done.metrics["resumed_from_step"] >= 2


def test_resources_no_node_has_fail_the_job_at_once(project):
    config = load_config(project)
    with pytest.raises(jobs.JobError, match=r"no node of the Ray cluster .* has 1 CPU, 4 GPU") as err:
        jobs.create(config, "greet", project / "data", {"max_steps": 3}, resources={"gpus": 4})
    assert "ask for less" in err.value.one_line()
    (job,) = jobs.list_jobs(config)
    assert job.status == "failed" and "4 GPU" in job.error


@pytest.mark.slow
def test_real_lora_job_through_ray_answers_through_the_local_provider(project, monkeypatch):
    pytest.importorskip("peft")
    import asyncio

    from promptops.providers import complete

    monkeypatch.delenv("PROMPTOPS_JOB_TRAINER")
    monkeypatch.setenv("PROMPTOPS_ROOT", str(project))
    config = load_config(project)
    rows = [{"messages": [{"role": "system", "content": "Answer with the label."},
                          {"role": "user", "content": f"item {i}"}, {"role": "assistant", "content": "Blue"}]}
            for i in range(12)]
    (project / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:10]))
    (project / "data" / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[10:]))
    job = jobs.create(config, "greet", project / "data",
                      {"max_steps": 6, "batch_size": 4, "learning_rate": 3e-3, "eval_generate": False})
    done = jobs.wait(config, job.id, poll_s=1, timeout_s=400)
    assert done.status == "succeeded", done.error
    out = asyncio.run(complete(f"local/smollm2+{job.id}", rows[0]["messages"][:2],
                               {"max_tokens": 4, "temperature": 0}, config=config))
    assert "Blue" in out.text


# --- bad input without a cluster --------------------------------------------------------------------

@pytest.fixture()
def plain(tmp_path, monkeypatch):
    return _project(tmp_path, monkeypatch, "http://127.0.0.1:9")


def test_ray_not_installed_says_how_to_install_it(plain, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.job_submission", None)
    with pytest.raises(jobs.JobError, match=r"needs Ray.*promptops\[ray\]"):
        jobs.create(load_config(plain), "greet", plain / "data", {"max_steps": 3})
    assert jobs.list_jobs(load_config(plain)) == []  # nothing recorded


def test_an_unreachable_ray_address_is_a_clear_error(plain):
    pytest.importorskip("ray.job_submission")
    with pytest.raises(jobs.JobError, match=r"cannot reach the Ray cluster at http://127.0.0.1:9"):
        jobs.create(load_config(plain), "greet", plain / "data", {"max_steps": 3})


def test_an_unknown_backend_is_a_config_error(plain):
    from promptops.errors import ConfigError

    (plain / "promptops.yaml").write_text("finetune:\n  backend: slurm\n")
    with pytest.raises(ConfigError, match="finetune.backend: must be one of 'local', 'ray'"):
        load_config(plain)


def test_an_artifacts_url_whose_filesystem_package_is_missing(plain, monkeypatch):
    import fsspec

    if "s3fs" in sys.modules or __import__("importlib").util.find_spec("s3fs"):
        pytest.skip("s3fs is installed")
    config = load_config(plain)
    config.artifacts.url = "s3://bucket/promptops"
    with pytest.raises(artifacts.ArtifactsError, match="pip install s3fs"):
        artifacts.fetch_adapter(config, "ft-x")
    config.artifacts.url = "nosuchfs://x"
    with pytest.raises(artifacts.ArtifactsError, match="nosuchfs"):
        artifacts.fetch_adapter(config, "ft-x")
    assert fsspec  # the memory filesystem round-trips in one process
    config.artifacts.url = "memory://promptops-test"
    src = plain / "adapter"
    src.mkdir()
    (src / "adapter_config.json").write_text("{}")
    artifacts.upload_dir(src, artifacts.adapter_url(config, "ft-m"))
    got = artifacts.fetch_adapter(config, "ft-m")
    assert got == config.state_path / "cache" / "adapters" / "ft-m" and (got / "adapter_config.json").is_file()
