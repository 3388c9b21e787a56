"""Where a fine-tune job's worker runs: ``local`` (a detached process on this machine) or ``ray``.

A backend starts the worker of a queued job (``launch``), says why an active job's worker is gone
(``dead_cause``; None while it runs or when it cannot tell, the heartbeat then decides) and stops it
(``cancel``, after the record says cancelled). The job record names its backend
(``metrics["backend"]``, default ``local``); resources asked for are ``metrics["resources"]``
(``cpus``, ``gpus``, ``memory_gb``, ``processes``). The ``ray`` backend lives in :mod:`.ray_backend`, the only
module that imports Ray; :func:`promptops.finetune.jobs.get_backend` picks one. Import-light.
"""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ..config import Config
from ..errors import PromptopsError
from .distributed import launch_env, worker_argv, world_size

NAMES = ("local", "ray")


class JobError(PromptopsError):
    """A job cannot do what was asked (resume a running job, cancel a finished one, ...)."""


def now() -> datetime:
    return datetime.now(timezone.utc)


class Backend(Protocol):
    name: str

    def launch(self, config: Config, job: Any, store: Any) -> Any: ...

    def dead_cause(self, config: Config, job: Any, store: Any) -> str | None: ...

    def cancel(self, config: Config, job: Any, store: Any) -> None: ...

    def preflight(self, config: Config) -> None:
        """Refuse before a job is recorded: the backend's package is missing, its cluster unreachable."""


def worker_env(config: Config) -> dict[str, str]:
    """What the worker process needs in its environment besides the machine's own."""
    return {"PROMPTOPS_ROOT": str(config.root), "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


class LocalBackend:
    """A detached process on this machine (``python -m promptops.finetune.worker JOB_ID``; under
    ``accelerate launch`` with N processes when the job asks for ``processes``/``gpus`` N > 1)."""

    name = "local"

    def launch(self, config: Config, job: Any, store: Any) -> Any:
        log = Path(job.log_path or config.state_path / "jobs" / f"{job.id}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        resources = (job.metrics or {}).get("resources")
        processes = world_size(resources)
        env = {**os.environ, **worker_env(config), **launch_env(processes, (resources or {}).get("cpus"))}
        with open(log, "ab") as out:
            argv = worker_argv(job.id, processes)  # under accelerate launch for N > 1
            proc = subprocess.Popen(argv, cwd=str(config.root),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True, close_fds=True)
        # the worker sets running + its heartbeat; record the pid now so a crash at start-up is noticed
        return store.update_job(job.id, pid=proc.pid, heartbeat_at=now(),
                                metrics={**(job.metrics or {}), "host": socket.gethostname()})

    def dead_cause(self, config: Config, job: Any, store: Any) -> str | None:
        return None  # jobs.refresh checks the pid and the heartbeat

    def cancel(self, config: Config, job: Any, store: Any) -> None:
        return None  # jobs.cancel signals the pid

    def preflight(self, config: Config) -> None:
        return None
