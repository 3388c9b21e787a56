"""Data parallelism: a job with ``processes: N`` trains under ``accelerate launch``, N ranks over gloo
on the CPU.

The fast tests check the command line and the single-process group (which must do nothing). The
slow one trains the embedded SmolLM2 for a few steps with 1 and with 2 processes on the same data:
rank 0 alone writes the adapter and the record, the record says world size 2, and, without dropout,
the two runs' step losses agree (the ranks' gradients sum to the one-process gradient).
"""

from __future__ import annotations

import json
import sys

import pytest

from promptops.config import load_config
from promptops.errors import ConfigError
from promptops.finetune import distributed, jobs


def test_the_worker_runs_under_accelerate_launch_for_more_than_one_process():
    assert distributed.worker_argv("ft-1", 1) == [sys.executable, "-m", "promptops.finetune.worker", "ft-1"]
    argv = distributed.worker_argv("ft-1", 2, "python")
    assert argv[:3] == ["python", "-m", "accelerate.commands.launch"]
    # accelerate's own parser reads the command line as meant: 2 processes, the worker as a module
    launch = pytest.importorskip("accelerate.commands.launch")
    args = launch.launch_command_parser().parse_args(argv[3:])
    assert args.multi_gpu and args.num_processes == 2 and args.num_machines == 1 and args.main_process_port == 0
    assert args.module and args.training_script == "promptops.finetune.worker" and args.training_script_args == ["ft-1"]
    assert args.max_restarts == 0 and args.mixed_precision == "no"
    assert distributed.world_size(None) == 1 and distributed.world_size({"gpus": 1}) == 1
    assert distributed.world_size({"gpus": 4}) == 4 and distributed.world_size({"gpus": 4, "processes": 2}) == 2
    with pytest.raises(ConfigError, match="at least one process"):
        distributed.world_size({"processes": -1})


def test_the_ranks_share_the_cpus(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert distributed.launch_env(1) == {}
    assert distributed.launch_env(2, cpus=8) == {"OMP_NUM_THREADS": "4"}
    assert distributed.launch_env(4, cpus=2) == {"OMP_NUM_THREADS": "1"}
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the user's own setting wins
    assert distributed.launch_env(2, cpus=8) == {}


def test_one_process_is_a_group_that_does_nothing(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    group = distributed.join()
    assert group is distributed.SINGLE and group.is_main and distributed.current() is group
    assert group.shard([3, 1, 2]) == [3, 1, 2] and group.total(5) == 5 and group.any(False) is False
    assert group.sum_gradients([], 1.5, 4) == [1.5, 4] and group.from_main(0.25) == 0.25
    assert distributed.Group(rank=1, world=2).shard([0, 1, 2, 3, 4]) == [1, 3]
    assert distributed.Group(rank=1, world=2).shard([7]) == []  # a batch smaller than the world


@pytest.fixture()
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "prompts").mkdir(parents=True)
    (root / "promptops.yaml").write_text("default_model: local/smollm2\n")
    data = root / "data"
    data.mkdir()
    labels = ["Blue", "Red"]
    rows = [{"messages": [{"role": "system", "content": "Answer with the label."},
                          {"role": "user", "content": f"item {i}"}, {"role": "assistant", "content": labels[i % 2]}]}
            for i in range(10)]
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:8]))
    (data / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[8:]))
    monkeypatch.setenv("PROMPTOPS_ROOT", str(root))
    monkeypatch.delenv("PROMPTOPS_JOB_TRAINER", raising=False)
    return root


SETTINGS = {"max_steps": 3, "batch_size": 4, "lora_r": 4, "lora_dropout": 0.0, "eval_generate": False,
            "learning_rate": 3e-3}


@pytest.mark.slow
def test_two_gloo_processes_train_one_adapter_with_the_one_process_gradient(project):
    pytest.importorskip("peft")
    config = load_config(project)
    one = jobs.create(config, "greet", project / "data", SETTINGS)
    one = jobs.wait(config, one.id, poll_s=1, timeout_s=600)
    assert one.status == "succeeded", one.error
    two = jobs.create(config, "greet", project / "data", SETTINGS, resources={"processes": 2})
    two = jobs.wait(config, two.id, poll_s=1, timeout_s=600)
    assert two.status == "succeeded", two.error
    assert two.metrics["world_size"] == 2 and one.metrics["world_size"] == 1
    assert two.metrics["resources"] == {"processes": 2} and two.progress["step"] == 3
    adapter = project / ".promptops" / "adapters" / two.id
    assert (adapter / "adapter_model.safetensors").is_file()
    log = open(two.log_path).read()
    assert log.count("rank 0 of 2 wrote the adapter") == 1 and log.count("succeeded: adapter") == 1
    assert "rank 1 of 2: succeeded after 3 steps; rank 0 writes the adapter" in log
    # the launcher was given every setting (no "values were not passed" notice), the libraries are quiet
    assert "accelerate launch" not in log and "Warning" not in log, log
    # the same batches, the same gradient: the loss curves agree (summation order aside)
    l1 = [x["loss"] for x in one.metrics["losses"]]
    l2 = [x["loss"] for x in two.metrics["losses"]]
    assert len(l1) == len(l2) == 3 and l1[1] != l1[0]
    assert l2 == pytest.approx(l1, rel=1e-3)
    assert two.metrics["best_val_loss"] == pytest.approx(one.metrics["best_val_loss"], rel=1e-3)
    print(f"\n1 process: {one.metrics['train_time_s'] / 3:.2f} s/step; "
          f"2 processes: {two.metrics['train_time_s'] / 3:.2f} s/step")


def _processes_of(job_id: str) -> list[int]:
    """Live processes whose command line names the job (the launcher and every rank)."""
    import os

    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if job_id.encode() in cmd and state != "Z":
            found.append(int(pid))
    return found


@pytest.mark.slow
def test_cancelling_a_two_process_job_stops_every_rank_and_keeps_a_checkpoint(project):
    pytest.importorskip("peft")
    import time

    config = load_config(project)
    job = jobs.create(config, "greet", project / "data", {**SETTINGS, "max_steps": 200, "epochs": 100},
                      resources={"processes": 2})
    deadline = time.monotonic() + 300
    while (jobs.get(config, job.id).progress or {}).get("step", 0) < 2:
        assert time.monotonic() < deadline, open(job.log_path).read()
        assert jobs.get(config, job.id).status in ("queued", "running"), jobs.get(config, job.id).error
        time.sleep(0.5)
    assert len(_processes_of(job.id)) >= 3  # the launcher and two ranks
    cancelled = jobs.cancel(config, job.id, grace_s=60)
    assert cancelled.status == "cancelled"
    deadline = time.monotonic() + 60
    while _processes_of(job.id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_of(job.id) == [], "a rank outlived the cancel"
    assert jobs.get(config, job.id).status == "cancelled"
    from promptops.finetune.state import find_checkpoint, read_checkpoint

    ckpt = find_checkpoint(project / ".promptops" / "jobs" / job.id / "adapter")
    assert ckpt is not None and read_checkpoint(ckpt)["state"].step >= 2  # resume continues from there
    log = open(job.log_path).read()
    assert "cancelled; a checkpoint was kept" in log and "rank 1 of 2: cancelled" in log, log
