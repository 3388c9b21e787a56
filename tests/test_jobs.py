"""Fine-tune jobs: lifecycle in a real worker process (with a fast fake trainer), kill + resume, cancel.

The fake trainer (``PROMPTOPS_JOB_TRAINER=tests.test_jobs``) has the real ``train`` signature: it
reports progress every step, checkpoints, honours ``should_stop`` and ``resume``, and writes an
adapter folder. One slow test trains for real on the embedded model and answers through the adapter.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from promptops.config import load_config
from promptops.finetune import TrainConfig, jobs
from promptops.store import open_store

ROOT = Path(__file__).resolve().parents[1]


# --- the fake trainer, run inside the worker process --------------------------------------------------

@dataclass
class FakeResult:
    status: str
    out_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)


def train(config, train_data, val_data=None, out_dir=".", *, model=None, tokenizer=None, resume=True,
          on_progress=None, should_stop=None):
    tc = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.json"
    step = json.loads(ckpt.read_text())["step"] if resume and ckpt.is_file() else 0
    resumed = step or None
    total = tc.max_steps or 20
    delay = float(os.environ.get("FAKE_STEP_S", "0.05"))
    losses = []
    while step < total:
        if should_stop and should_stop():
            ckpt.write_text(json.dumps({"step": step}))
            return FakeResult("cancelled", out, {"steps": step})
        time.sleep(delay)
        step += 1
        losses.append({"step": step, "loss": 2.0 / step})
        ckpt.write_text(json.dumps({"step": step}))
        if on_progress:
            on_progress({"phase": "train", "step": step, "total_steps": total, "epoch": step / total,
                         "loss": 2.0 / step, "val_loss": None, "eta_s": (total - step) * delay})
    (out / "adapter_config.json").write_text(json.dumps({"r": tc.lora_r}))
    (out / "adapter_model.safetensors").write_bytes(b"fake")
    metrics = {"steps": step, "total_steps": total, "losses": losses, "resumed_from_step": resumed,
               "train_time_s": step * delay, "val_accuracy": 1.0}
    (out / "metrics.json").write_text(json.dumps(metrics))
    return FakeResult("succeeded", out, metrics)


# --- tests ------------------------------------------------------------------------------------------

@pytest.fixture()
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "prompts").mkdir(parents=True)
    (root / "promptops.yaml").write_text("default_model: local/smollm2\n")
    data = root / "data"
    data.mkdir()
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello"}]}
    (data / "train.jsonl").write_text((json.dumps(row) + "\n") * 8)
    (data / "val.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("PROMPTOPS_JOB_TRAINER", "tests.test_jobs")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.setenv("PROMPTOPS_JOB_HEARTBEAT_S", "0.5")
    return root


def wait_for(pred, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_job_lifecycle_progress_adapter_and_model_name(project):
    config = load_config(project)
    job = jobs.create(config, "greet", project / "data", {"max_steps": 12, "lora_r": 4})
    assert job.status == "queued" and job.pid and job.log_path.endswith(f"jobs/{job.id}.log")
    seen = []
    done = jobs.wait(config, job.id, poll_s=0.1, timeout_s=60, on_update=lambda j: seen.append(j.status))
    assert done.status == "succeeded", done.error
    assert "running" in seen
    assert done.metrics["model"] == f"local/smollm2+{job.id}"
    adapter = project / ".promptops" / "adapters" / job.id
    assert Path(done.adapter_path) == adapter and (adapter / "adapter_config.json").is_file()
    assert not (adapter / "checkpoint.json").exists()  # the checkpoint stays in the work folder
    assert done.progress["step"] == 12 and done.progress["curve"]
    assert done.metrics["steps"] == 12 and done.metrics["val_dataset"].endswith("val.jsonl")
    assert done.started_at and done.finished_at and done.heartbeat_at
    assert jobs.sparkline(jobs.loss_curve(done))[0] == "█"
    log = Path(done.log_path).read_text()
    assert "succeeded" in log


def test_a_killed_job_is_marked_failed_and_resumes_from_its_checkpoint(project, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_S", "0.2")
    config = load_config(project)
    store = open_store(config)
    job = jobs.create(config, "greet", project / "data", {"max_steps": 15})
    wait_for(lambda: (store.get_job(job.id).progress or {}).get("step", 0) >= 3)
    os.kill(job.pid, signal.SIGKILL)
    failed = wait_for(lambda: (j := jobs.get(config, job.id)).status == "failed" and j)
    assert "killed or crashed" in failed.error and "jobs resume" in failed.error
    assert [j.status for j in jobs.list_jobs(config)] == ["failed"]
    monkeypatch.setenv("FAKE_STEP_S", "0.01")
    jobs.resume(config, job.id)
    done = jobs.wait(config, job.id, poll_s=0.1, timeout_s=60)
    assert done.status == "succeeded" and done.error is None
    assert done.metrics["resumed_from_step"] >= 3 and done.metrics["resumes"] == 1
    with pytest.raises(jobs.JobError, match="already succeeded"):
        jobs.resume(config, job.id)


def test_a_silent_worker_is_marked_failed(project):
    config = load_config(project)
    store = open_store(config)
    job = store.create_job(prompt="greet", base_model="local/smollm2", dataset="x", status="running",
                           heartbeat_at=jobs._now().replace(year=2000))
    assert "no heartbeat" in jobs.get(config, job.id).error


def test_cancel_stops_the_worker_and_keeps_a_checkpoint(project, monkeypatch):
    monkeypatch.setenv("FAKE_STEP_S", "0.2")
    config = load_config(project)
    store = open_store(config)
    job = jobs.create(config, "greet", project / "data", {"max_steps": 200})
    wait_for(lambda: (store.get_job(job.id).progress or {}).get("step", 0) >= 2)
    cancelled = jobs.cancel(config, job.id, grace_s=10)
    assert cancelled.status == "cancelled"
    assert not jobs.worker_alive(job.pid)
    assert jobs.get(config, job.id).status == "cancelled"  # not turned into "failed" later
    assert (project / ".promptops" / "jobs" / job.id / "adapter" / "checkpoint.json").is_file()
    with pytest.raises(jobs.JobError, match="already cancelled"):
        jobs.cancel(config, job.id)


def test_jobs_cli_list_show_cancel(project, cli):
    config = load_config(project)
    job = jobs.create(config, "greet", project / "data", {"max_steps": 5})
    jobs.wait(config, job.id, poll_s=0.1, timeout_s=60)
    run = lambda *a: cli(*a, cwd=project, env={"PROMPTOPS_ROOT": None}, code=None)  # the CLI in this process
    out = run("jobs", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[0]["status"] == "succeeded"
    out = run("jobs", "show", job.id)
    assert out.returncode == 0 and "loss" in out.stdout and f"local/smollm2+{job.id}" in out.stdout
    out = run("jobs", "cancel", job.id)
    assert out.returncode == 2 and "already succeeded" in out.stderr
    out = run("jobs", "show", "ft-nope")
    assert out.returncode == 2 and "no fine-tune job" in out.stderr


@pytest.mark.slow
def test_real_lora_job_answers_through_the_local_provider(project, monkeypatch):
    """export-shaped data → a few real LoRA steps on the embedded model → local/smollm2+<job id>."""
    pytest.importorskip("peft")
    import asyncio

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
    from promptops.providers import complete

    out = asyncio.run(complete(done.metrics["model"], rows[0]["messages"][:2], {"max_tokens": 4, "temperature": 0},
                               config=config))
    assert "Blue" in out.text
