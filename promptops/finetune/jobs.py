"""Fine-tune jobs: a store record plus a detached worker process (``python -m promptops.finetune.worker``).

The record is how everyone else follows a job: status (queued, running, succeeded, failed,
cancelled), progress, metrics, the pid and a heartbeat. A worker that died without saying so (killed,
out of memory, machine rebooted) is noticed by :func:`refresh`: its pid is gone (same host) or its
heartbeat is older than ``config.job_stale_s`` (``PROMPTOPS_JOB_STALE_S``); the job is then marked
failed with that cause.
A failed or cancelled job resumes from its last checkpoint with :func:`resume`.

Import-light: nothing here imports torch; the worker process does.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from ..config import Config
from ..errors import ConfigError
from ..providers import LOCAL
from ..store import open_store
from . import backends, ray_backend
from .backends import JobError
from .config import TrainConfig

ACTIVE = ("queued", "running")
FINAL = ("succeeded", "failed", "cancelled")


def get_backend(name: str) -> backends.Backend:
    """The backend called ``name`` (``local`` or ``ray``); ray: a JobError with the install hint when missing."""
    if name == "local":
        return backends.LocalBackend()
    if name == "ray":
        ray_backend.require()
        return ray_backend.RayBackend()
    raise ConfigError(f"unknown fine-tune backend {name!r}", hint="use one of: " + ", ".join(backends.NAMES))


def backend_of(job: Any) -> backends.Backend:
    """The backend a job was recorded with. A ray job read where Ray is missing still lists and
    shows (its heartbeat decides whether it is alive); starting it again asks for Ray."""
    name = (job.metrics or {}).get("backend") or "local"
    return ray_backend.RayBackend() if name == "ray" else get_backend(name)


def jobs_dir(config: Config) -> Path:
    return config.state_path / "jobs"


def adapters_dir(config: Config) -> Path:
    return config.state_path / "adapters"


def work_dir(config: Config, job_id: str) -> Path:
    """Where the worker trains (checkpoints live here; the finished adapter is copied out)."""
    return jobs_dir(config) / job_id


def model_name(base: str, job_id: str) -> str:
    """The model name of a job's adapter: ``local/<base>+<job id>``."""
    base = LOCAL.strip(base)
    return f"local/{base}+{job_id}"


def create(config: Config, prompt: str, dataset: str | Path, train_config: TrainConfig | dict, *,
           val_dataset: str | Path | None = None, store: Any = None, start: bool = True,
           extra: dict[str, Any] | None = None, backend: str | None = None,
           resources: dict[str, Any] | None = None) -> Any:
    """Record a job (status queued) and start its worker; returns the job row.

    ``dataset``: a chat JSONL file, or a folder holding ``train.jsonl`` (and ``val.jsonl``).
    ``backend``: ``local`` or ``ray`` (default ``finetune.backend``); ``resources``: ``cpus``, ``gpus``,
    ``memory_gb`` the worker needs (the ray backend asks the cluster for them).
    """
    name = backend or config.finetune.backend
    get_backend(name).preflight(config)  # an unknown name, ray missing, no cluster: before anything is recorded

    store = store or open_store(config)
    tc = train_config if isinstance(train_config, TrainConfig) else TrainConfig.from_dict(train_config)
    train_path, val_path = dataset_files(dataset, val_dataset)
    job = store.create_job(prompt=prompt, base_model=tc.base, dataset=str(train_path), config=tc.to_dict(),
                           metrics={"val_dataset": str(val_path) if val_path else None,
                                    "tokens_per_example": round(tokens_per_example(train_path), 1), **(extra or {}),
                                    **({"backend": name} if name != "local" else {}),
                                    **({"resources": dict(resources)} if resources else {})})
    log = jobs_dir(config) / f"{job.id}.log"
    job = store.update_job(job.id, log_path=str(log))
    if start:
        job = launch(config, job.id, store=store)
    return job


def tokens_per_example(path: str | Path, sample: int = 200) -> float:
    """A rough token count (characters / 4, + chat-template tokens) of the rows of a chat JSONL file."""
    import json

    lines = [ln for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()][:sample]
    if not lines:
        return 0.0
    try:
        chars = [sum(len(m.get("content", "")) for m in json.loads(ln)["messages"]) for ln in lines]
    except (ValueError, KeyError, TypeError, AttributeError):
        return 0.0
    return sum(chars) / len(chars) / 4 + 10


def dataset_files(dataset: str | Path, val_dataset: str | Path | None = None) -> tuple[Path, Path | None]:
    path = Path(dataset).expanduser().resolve()
    if path.is_dir():
        train, val = path / "train.jsonl", path / "val.jsonl"
        if not train.is_file():
            raise JobError(f"no train.jsonl in {path}", hint="run: promptops export NAME")
        return train, (Path(val_dataset).resolve() if val_dataset else (val if val.is_file() else None))
    if not path.is_file():
        raise JobError(f"dataset {dataset} not found", hint="give a chat JSONL file or a folder from promptops export")
    val = Path(val_dataset).resolve() if val_dataset else None
    if val is None and path.name == "train.jsonl" and (path.parent / "val.jsonl").is_file():
        val = path.parent / "val.jsonl"
    return path, val


def launch(config: Config, job_id: str, *, store: Any = None) -> Any:
    """Start the worker for a queued job through its backend (see :mod:`.backends`); it outlives this process."""
    store = store or open_store(config)
    job = store.get_job(job_id)
    return backend_of(job).launch(config, job, store)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def worker_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live (not zombie) promptops worker on this machine."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        if state in (b"Z", b"X"):
            return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"promptops.finetune.worker" in f.read()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    except OSError:  # no /proc: fall back to a signal 0 probe
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


def refresh(config: Config, job: Any, *, store: Any = None) -> Any:
    """Mark an active job failed when its worker is gone or silent; returns the (updated) job."""

    if job.status not in ACTIVE:
        return job
    store = store or open_store(config)
    same_host = (job.metrics or {}).get("host") in (None, socket.gethostname())
    cause = backend_of(job).dead_cause(config, job, store)
    if cause is not None:
        pass
    elif job.pid and same_host and not worker_alive(job.pid):
        cause = f"the worker process (pid {job.pid}) ended without finishing (killed or crashed)"
    elif job.heartbeat_at is not None and (_now() - job.heartbeat_at).total_seconds() > config.job_stale_s:
        age = (_now() - job.heartbeat_at).total_seconds()
        cause = f"no heartbeat from the worker for {age:.0f} s (limit {config.job_stale_s:.0f} s)"
    if cause is None:
        return job
    tail = log_tail(job, 3)
    if tail:
        cause += "; log ends: " + " | ".join(tail)
    return store.update_job(job.id, status="failed", error=cause + f" (resume: promptops jobs resume {job.id})",
                            finished_at=_now())


def log_tail(job: Any, lines: int = 20) -> list[str]:
    if not job.log_path or not Path(job.log_path).is_file():
        return []
    text = Path(job.log_path).read_text(encoding="utf-8", errors="replace")
    rows = [r for r in text.replace("\r", "\n").splitlines() if r.strip() and "it/s]" not in r]
    return rows[-lines:]


def get(config: Config, job_id: str, *, store: Any = None) -> Any:
    store = store or open_store(config)
    return refresh(config, store.get_job(job_id), store=store)


def list_jobs(config: Config, *, prompt: str | None = None, store: Any = None) -> list[Any]:
    store = store or open_store(config)
    return [refresh(config, j, store=store) for j in store.list_jobs(prompt=prompt)]


def cancel(config: Config, job_id: str, *, store: Any = None, grace_s: float = 0.0) -> Any:
    """Mark the job cancelled; the worker sees it between steps, checkpoints and exits.

    A worker on this machine also gets SIGTERM (it stops at the next step, even while loading).
    With ``grace_s``, wait that long for the worker to exit."""

    store = store or open_store(config)
    job = refresh(config, store.get_job(job_id), store=store)
    if job.status in FINAL:
        raise JobError(f"job {job_id} is already {job.status}")
    job = store.update_job(job_id, status="cancelled", finished_at=_now(), error="cancelled by the user")
    backend_of(job).cancel(config, job, store)
    if job.pid and worker_alive(job.pid):
        try:
            os.kill(job.pid, signal.SIGTERM)
        except OSError:
            pass
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and worker_alive(job.pid):
            time.sleep(0.1)
    return store.get_job(job_id)


def resume(config: Config, job_id: str, *, store: Any = None, start: bool = True) -> Any:
    """Rerun a failed or cancelled job: its worker continues from the last checkpoint."""

    store = store or open_store(config)
    job = refresh(config, store.get_job(job_id), store=store)
    if job.status in ACTIVE:
        raise JobError(f"job {job_id} is {job.status}; only failed or cancelled jobs resume")
    if job.status == "succeeded":
        raise JobError(f"job {job_id} already succeeded", hint="start a new job to train again")
    metrics = {**(job.metrics or {}), "resumes": int((job.metrics or {}).get("resumes", 0)) + 1}
    store.update_job(job_id, status="queued", error=None, finished_at=None, pid=None, metrics=metrics)
    return launch(config, job_id, store=store) if start else store.get_job(job_id)


def wait(config: Config, job_id: str, *, store: Any = None, poll_s: float = 1.0, timeout_s: float | None = None,
         on_update: Callable[[Any], None] | None = None) -> Any:
    """Block until the job is final (or ``timeout_s`` passes); ``on_update(job)`` after each poll."""

    store = store or open_store(config)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        job = get(config, job_id, store=store)
        if on_update:
            on_update(job)
        if job.status in FINAL:
            return job
        if deadline is not None and time.monotonic() > deadline:
            return job
        time.sleep(poll_s)


SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 60) -> str:
    """A loss curve as text: ``values`` bucketed to ``width`` means, scaled between min and max."""
    vals = [v for v in values if isinstance(v, (int, float))]
    if not vals:
        return ""
    if len(vals) > width:
        size = len(vals) / width
        vals = [sum(b) / len(b) for i in range(width) if (b := vals[int(i * size):int((i + 1) * size)] or vals[-1:])]
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * (len(SPARK) - 1) + 0.5))] for v in vals)


def loss_curve(job: Any) -> list[float]:
    """Training losses of a job: the full curve once finished, else the points sent so far."""
    losses = (job.metrics or {}).get("losses") or []
    if losses:
        return [x["loss"] if isinstance(x, dict) else x for x in losses]
    return list((job.progress or {}).get("curve") or [])
