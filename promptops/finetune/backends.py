"""Where a fine-tune job's worker runs: ``local`` (a detached process on this machine) or ``ray``.

A backend starts the worker of a queued job (``launch``), says why an active job's worker is gone
(``dead_cause``; None while it runs or when it cannot tell, the heartbeat then decides) and stops it
(``cancel``, after the record says cancelled). The job record names its backend
(``metrics["backend"]``, default ``local``); resources asked for are ``metrics["resources"]``
(``cpus``, ``gpus``, ``memory_gb``). The ``ray`` backend lives in :mod:`.ray_backend`, the only
module that imports Ray. Import-light.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from ..config import Config

NAMES = ("local", "ray")


class Backend(Protocol):
    name: str

    def launch(self, config: Config, job: Any, store: Any) -> Any: ...

    def dead_cause(self, config: Config, job: Any, store: Any) -> str | None: ...

    def cancel(self, config: Config, job: Any, store: Any) -> None: ...


def worker_env(config: Config) -> dict[str, str]:
    """What the worker process needs in its environment besides the machine's own."""
    return {"PROMPTOPS_ROOT": str(config.root), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


class LocalBackend:
    """A detached process on this machine (``python -m promptops.finetune.worker JOB_ID``)."""

    name = "local"

    def launch(self, config: Config, job: Any, store: Any) -> Any:
        from .jobs import _now, jobs_dir

        log = Path(job.log_path or jobs_dir(config) / f"{job.id}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **worker_env(config)}
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "promptops.finetune.worker", job.id], cwd=str(config.root),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True, close_fds=True)
        # the worker sets running + its heartbeat; record the pid now so a crash at start-up is noticed
        return store.update_job(job.id, pid=proc.pid, heartbeat_at=_now(),
                                metrics={**(job.metrics or {}), "host": socket.gethostname()})

    def dead_cause(self, config: Config, job: Any, store: Any) -> str | None:
        return None  # jobs.refresh checks the pid and the heartbeat

    def cancel(self, config: Config, job: Any, store: Any) -> None:
        return None  # jobs.cancel signals the pid


def get(name: str) -> Backend:
    if name == "local":
        return LocalBackend()
    if name == "ray":
        from .ray_backend import RayBackend

        return RayBackend()
    from ..errors import ConfigError

    raise ConfigError(f"unknown fine-tune backend {name!r}", hint="use one of: " + ", ".join(NAMES))


def of(job: Any) -> str:
    return (job.metrics or {}).get("backend") or "local"


def for_job(job: Any) -> Backend:
    return get(of(job))
