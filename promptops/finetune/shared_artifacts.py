"""What the fine-tune worker puts in (and takes from) ``artifacts.url``, and its GPU check.

With ``artifacts.url`` set, the finished adapter is copied to ``<url>/adapters/<job id>`` (the record
keeps it as ``metrics["artifact_url"]``; ``local/<base>+<job id>`` fetches it on any machine, see
:mod:`promptops.localmodels.artifacts`), and the work folder with its checkpoint to
``<url>/checkpoints/<job id>`` when the worker stops (cancelled, failed); a resumed job on a machine
without the work folder starts from that copy. A worker killed outright (SIGKILL, a lost node) cannot
upload: it resumes from the shared copy of its last stop, or from scratch. Without the URL nothing
here does anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..config import Config
from ..localmodels import artifacts
from . import jobs
from .device import cuda_count


def publish_adapter(config: Config, job_id: str, local: Path) -> str | None:
    url = artifacts.adapter_url(config, job_id)
    return artifacts.upload_dir(local, url) if url else None


def save_checkpoint(config: Config, job_id: str) -> None:
    """Copy the job's work folder (its checkpoint) to shared storage; never raises (logs instead)."""
    url = artifacts.checkpoint_url(config, job_id)
    work = jobs.work_dir(config, job_id) / "adapter"
    if not url or not work.is_dir():
        return
    try:
        artifacts.upload_dir(work, url)
    except Exception as exc:  # noqa: BLE001 - the job's own cause matters more than this one
        print(f"could not copy the checkpoint to {url}: {exc}", flush=True)


def restore_checkpoint(config: Config, job_id: str) -> None:
    """Fetch the shared checkpoint when this machine has no work folder for the job."""
    url = artifacts.checkpoint_url(config, job_id)
    work = jobs.work_dir(config, job_id) / "adapter"
    if url and not work.is_dir():
        artifacts.fetch_dir(url, work)


def check_gpus(resources: dict[str, Any] | None) -> None:
    """Refuse a job that asks for more GPUs than this machine has (before loading anything)."""
    want = int((resources or {}).get("gpus") or 0)
    if not want:
        return
    have = cuda_count()
    if have < want:
        raise jobs.JobError(f"the job asks for {want} GPU(s) but this machine has {have}",
                            hint="run it where the GPUs are (finetune --backend ray with ray.address) "
                                 "or ask for fewer (--gpus)")
