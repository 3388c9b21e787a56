"""The fine-tune job process: ``python -m promptops.finetune.worker JOB_ID``.

Reads its job from the store, marks it running (pid, heartbeat), trains with
:func:`promptops.finetune.trainer.train` (resuming from the job's last checkpoint when there is
one), streams progress into the record about once a second, stops between steps when the record
says cancelled (or on SIGTERM), and on success copies the adapter to ``<state>/adapters/<job id>``
and registers it as the model ``local/<base>+<job id>``. Any exception leaves a failed record with
its cause. The project is ``PROMPTOPS_ROOT`` (set by :func:`jobs.launch`), its settings (the
heartbeat interval ``job_heartbeat_s``, say) from :func:`promptops.config.load_config`.
``PROMPTOPS_JOB_TRAINER=module``, a test hook rather than a setting, swaps in another module with
``train`` (and optionally ``train_folds``) of the same signatures (tests use a fast fake).

Under ``accelerate launch`` (a job with ``processes``/``gpus`` > 1, :mod:`.distributed`) every rank runs this
module: rank 0 is the worker described here (the record, checkpoints, the adapter); the other
ranks only train their share (:meth:`Worker.follow`) and write nothing.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from .._util.fs import publish_dir
from ..config import load_config
from ..store import open_store
from . import distributed, jobs
from . import shared_artifacts as shared
from .config import TrainConfig

PROGRESS_EVERY_S = 1.0
CURVE_POINTS = 200
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json", "training_config.json",
                 "metrics.json", "README.md")


def _trainer_module() -> Any:
    name = os.environ.get("PROMPTOPS_JOB_TRAINER")
    return importlib.import_module(name) if name else importlib.import_module("promptops.finetune.trainer")


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S ") + msg, flush=True)


class Worker:
    def __init__(self, job_id: str):
        self.config = load_config(Path(os.environ["PROMPTOPS_ROOT"]) if os.environ.get("PROMPTOPS_ROOT") else None)
        self.store = open_store(self.config)
        self.job_id = job_id
        self.stop_requested = False
        self._last_check = 0.0
        self._cancelled_in_store = False
        self._last_progress = 0.0
        self._curve: list[float] = []
        self._last_data: dict[str, Any] = {}
        self._beating = threading.Event()

    # -- signals from outside ---------------------------------------------------------------
    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self.stop_requested and now - self._last_check >= 1.0:
            self._last_check = now
            if self.store.get_job(self.job_id).status == "cancelled":
                self._cancelled_in_store = self.stop_requested = True
        return self.stop_requested

    def _heartbeat(self) -> None:
        while not self._beating.wait(self.config.job_heartbeat_s):
            try:
                self.store.update_job(self.job_id, heartbeat_at=jobs._now())
            except Exception as exc:  # noqa: BLE001 - a busy database must not kill training
                log(f"heartbeat failed: {exc}")

    def on_progress(self, data: dict[str, Any]) -> None:
        self._last_data = data
        phase = data.get("phase")
        if phase == "train" and data.get("loss") is not None:
            self._curve.append(round(float(data["loss"]), 5))
            if len(self._curve) > CURVE_POINTS:  # keep the whole run's shape in a bounded list
                self._curve = self._curve[::2]
        now = time.monotonic()
        if phase == "train" and now - self._last_progress < PROGRESS_EVERY_S:
            return
        self._last_progress = now
        progress = {k: v for k, v in data.items() if isinstance(v, (int, float, str, type(None)))}
        progress["curve"] = list(self._curve)
        self.store.update_job(self.job_id, progress=progress, heartbeat_at=jobs._now())
        if phase != "train" or data.get("step", 0) % 10 == 0:
            fold = f"fold {data['fold']}/{data['folds']} " if "fold" in data else ""
            loss = data.get("loss")
            val = data.get("val_loss")
            log(f"{fold}{phase} step {data.get('step')}/{data.get('total_steps')} "
                f"loss {'-' if loss is None else f'{loss:.4f}'} val {'-' if val is None else f'{val:.4f}'} "
                f"eta {data.get('eta_s') or 0:.0f}s")

    # -- the job ---------------------------------------------------------------------------
    def run(self) -> int:
        job = self.store.get_job(self.job_id)
        if job.status != "queued":
            log(f"job {self.job_id} is {job.status}; nothing to do")
            return 0
        group = distributed.current()
        job = self.store.update_job(self.job_id, status="running", pid=os.getpid(), heartbeat_at=jobs._now(),
                                    started_at=job.started_at or jobs._now(), error=None,
                                    metrics={**(job.metrics or {}), "host": socket.gethostname(),
                                             **({"world_size": group.world} if group.world > 1 else {})})
        beat = threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)
        beat.start()
        try:
            return self._train(job)
        except BaseException as exc:  # noqa: BLE001 - every cause ends in the record
            if isinstance(exc, KeyboardInterrupt):
                self.stop_requested = True
            cause = exc.one_line() if hasattr(exc, "one_line") else f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
            shared.save_checkpoint(self.config, self.job_id)
            if self.store.get_job(self.job_id).status != "cancelled":
                self.store.update_job(self.job_id, status="failed", finished_at=jobs._now(),
                                      error=f"{cause} (resume: promptops jobs resume {self.job_id})")
                log(f"failed: {cause}")
            return 1
        finally:
            self._beating.set()

    def _train(self, job: Any) -> int:
        tc = TrainConfig.from_dict(job.config)
        val = (job.metrics or {}).get("val_dataset")
        work = jobs.work_dir(self.config, job.id)
        shared.check_gpus((job.metrics or {}).get("resources"))
        group = distributed.current()
        if group.world > 1 and tc.folds > 1:
            raise jobs.JobError(f"cross-validation (folds={tc.folds}) runs in one process, this job has {group.world}",
                                hint="drop --folds, or --processes/--gpus")
        shared.restore_checkpoint(self.config, job.id)
        group.barrier()  # the other ranks start once the checkpoint (if any) is here
        mod = _trainer_module()
        metrics = dict(job.metrics or {})
        log(f"job {job.id}: {job.prompt} on {tc.base}, data {job.dataset}" + (f" + {val}" if val else ""))
        model = tokenizer = None
        if tc.folds > 1 and "folds" not in metrics:
            examples = _read_jsonl(job.dataset) + (_read_jsonl(val) if val else [])
            log(f"{tc.folds}-fold cross-validation on {len(examples)} examples")
            fr = mod.train_folds(tc, examples, tc.folds, out_dir=work / "folds",
                                 on_progress=self.on_progress, should_stop=self.should_stop)
            if fr.cancelled or self.stop_requested:
                return self._cancelled()
            metrics["folds"] = {"metric": fr.metric, "scores": fr.scores, "mean": fr.mean, "std": fr.std,
                                "val_losses": fr.val_losses, "k": tc.folds}
            self.store.update_job(job.id, metrics=metrics)
            log(f"folds: {fr.metric} {', '.join(f'{s:.3f}' for s in fr.scores)} (mean {fr.mean:.3f}, sd {fr.std:.3f})")
        result = mod.train(tc, job.dataset, val, work / "adapter", model=model, tokenizer=tokenizer, resume=True,
                           on_progress=self.on_progress, should_stop=self.should_stop)
        if result.status == "cancelled" or self.stop_requested:
            return self._cancelled()
        target = jobs.adapters_dir(self.config) / job.id
        _publish(Path(result.out_dir), target)
        if group.world > 1:
            log(f"rank 0 of {group.world} wrote the adapter")
        name = jobs.model_name(tc.base, job.id)
        metrics.update({k: v for k, v in result.metrics.items()}, model=name, adapter=str(target))
        url = shared.publish_adapter(self.config, job.id, target)
        if url:
            metrics["artifact_url"] = url
        if isinstance(metrics.get("estimate"), dict):  # the estimate made before the job, and what it measured
            metrics["estimate"]["actual"] = {k: metrics.get(k) for k in ("steps", "train_time_s", "wall_time_s",
                                                                           "max_length", "truncated_examples")}
        final = {k: v for k, v in self._last_data.items() if isinstance(v, (int, float, str, type(None)))}
        final.update(phase="done", step=result.metrics.get("steps", final.get("step")), eta_s=0, curve=self._curve)
        self.store.update_job(job.id, status="succeeded", finished_at=jobs._now(), adapter_path=str(target),
                              metrics=metrics, progress=final, error=None)
        log(f"succeeded: adapter {target}, model {name}")
        return 0

    def follow(self) -> int:
        """A rank other than 0: train this rank's share of each batch; no record, no files."""
        group = distributed.current()
        job = self.store.get_job(self.job_id)
        if job.status not in ("queued", "running"):  # rank 0 finds nothing to do either
            return 0
        tc = TrainConfig.from_dict(job.config)
        val = (job.metrics or {}).get("val_dataset")
        group.barrier()  # rank 0 has restored the checkpoint
        result = _trainer_module().train(tc, job.dataset, val, jobs.work_dir(self.config, job.id) / "adapter",
                                         resume=True, should_stop=lambda: self.stop_requested)
        log(f"rank {group.rank} of {group.world}: {result.status} after {result.metrics.get('steps')} steps; "
            "rank 0 writes the adapter and the record")
        return 0

    def _cancelled(self) -> int:
        shared.save_checkpoint(self.config, self.job_id)
        job = self.store.get_job(self.job_id)
        if job.status != "cancelled":
            self.store.update_job(self.job_id, status="cancelled", finished_at=jobs._now(),
                                  error="stopped by SIGTERM")
        log("cancelled; a checkpoint was kept (resume: promptops jobs resume %s)" % self.job_id)
        return 0


def _read_jsonl(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _publish(src: Path, target: Path) -> None:
    """Copy the adapter files (not the checkpoint) to ``target`` atomically."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ADAPTER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, tmp / name)
    publish_dir(tmp, target)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m promptops.finetune.worker JOB_ID", file=sys.stderr)
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    worker = Worker(args[0])

    def on_term(signum: int, frame: Any) -> None:
        worker.stop_requested = True
        log("SIGTERM: stopping at the next step")

    signal.signal(signal.SIGTERM, on_term)
    try:
        group = distributed.join(_device_of(worker))
    except Exception as exc:  # noqa: BLE001 - rank 0 records why the group did not form
        if os.environ.get("RANK", "0") == "0":
            worker.store.update_job(worker.job_id, status="failed", finished_at=jobs._now(),
                                    error=f"could not start {os.environ.get('WORLD_SIZE')} processes: {exc}")
        raise
    try:
        return worker.run() if group.is_main else worker.follow()
    finally:
        distributed.finish()


def _device_of(worker: Worker) -> str:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return "auto"
    return str((worker.store.get_job(worker.job_id).config or {}).get("device", "auto"))


if __name__ == "__main__":
    sys.exit(main())
