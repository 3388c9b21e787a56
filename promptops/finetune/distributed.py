"""Data parallelism: one fine-tune job trained by N processes (``processes: N``, or ``gpus: N`` > 1).

The worker is started by Hugging Face Accelerate's launcher (``python -m accelerate.commands.launch
--multi_gpu --num_processes N ... -m promptops.finetune.worker JOB_ID``, :func:`worker_argv`;
accelerate ships with peft), which runs torch's elastic launcher on a free port. Each process
joins the group through accelerate's :class:`~accelerate.PartialState` (``gloo`` on the CPU,
``nccl`` on CUDA GPUs with one GPU per process, ``cuda:LOCAL_RANK``), and the collectives are
accelerate's (``reduce``, ``broadcast``, ``wait_for_everyone``).

The trainer's loop stays what it is; :class:`Group` does the parallel parts. Each rank takes its
share of every micro-batch (``batch[rank::world]``: the effective batch is the same as one
process's), the token count of the whole step is summed across ranks before the backward pass, and
after it the LoRA gradients (with the step's loss and example count) are summed in one reduction:
the gradient is the single-process one, the token-weighted mean over the whole batch, not an
average of per-rank means. Every rank then takes the same optimizer step, so their weights stay
equal. Rank 0 alone evaluates what decides early stopping (broadcast to the others), writes
checkpoints, the adapter and ``metrics.json``, and talks to the job record; a cancel (the record,
or SIGTERM to any rank) stops every rank at the same step (:meth:`Group.any`).
Import-light: torch and accelerate are imported inside the functions.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Sequence

from ..errors import ConfigError

__all__ = ["SINGLE", "Group", "current", "finish", "join", "launch_env", "worker_argv", "world_size"]


def world_size(resources: dict[str, Any] | None) -> int:
    """How many processes a job trains with: ``processes``, else ``gpus`` (one process per GPU), else 1."""
    r = resources or {}
    n = int(r.get("processes") or r.get("gpus") or 1)
    if n < 1:
        raise ConfigError(f"a job needs at least one process (processes={n})")
    return n


def worker_argv(job_id: str, processes: int, python: str = sys.executable) -> list[str]:
    """The worker's command line: itself for one process, under ``accelerate launch`` for several
    (every setting the launcher would otherwise default, and warn about, is given; the threads per
    process come from ``OMP_NUM_THREADS``, :func:`launch_env`)."""
    worker = ["promptops.finetune.worker", job_id]
    if processes <= 1:
        return [python, "-m", *worker]
    return [python, "-m", "accelerate.commands.launch", "--multi_gpu", f"--num_processes={processes}",
            "--num_machines=1", "--main_process_port=0", "--mixed_precision=no", "--dynamo_backend=no",
            "--max_restarts=0", "-m", *worker]


def launch_env(processes: int, cpus: float | None = None) -> dict[str, str]:
    """The environment the ranks get besides the worker's: the machine's CPUs (or the job's ``cpus``)
    shared among them as ``OMP_NUM_THREADS`` (the launcher passes it on; without it each rank would
    get one thread), unless it is already set."""
    if processes <= 1 or os.environ.get("OMP_NUM_THREADS"):
        return {}
    total = int(cpus) if cpus else (os.cpu_count() or 1)
    return {"OMP_NUM_THREADS": str(max(1, total // processes))}


@dataclass(frozen=True)
class Group:
    """This process's place in the job's group (``rank`` of ``world``); world 1 does nothing."""

    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, batch: Sequence[int]) -> list[int]:
        """This rank's share of a micro-batch (possibly empty when the batch is smaller than the world)."""
        return list(batch) if self.world == 1 else list(batch)[self.rank::self.world]

    def total(self, value: float) -> float:
        """The sum of ``value`` over the ranks."""
        if self.world == 1:
            return value
        import torch
        from accelerate.utils import reduce

        t = torch.tensor([float(value)], dtype=torch.float64, device=_device())
        return float(reduce(t, reduction="sum").item())

    def sum_gradients(self, params: Sequence[Any], *extra: float) -> list[float]:
        """Sum the gradients of ``params`` (a missing one counts as zero) and ``extra`` numbers over
        the ranks, in one ``all_reduce``; returns the summed ``extra``."""
        if self.world == 1:
            return list(extra)
        import torch
        from accelerate.utils import reduce

        grads = []
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            grads.append(p.grad)
        flat = torch.cat([g.reshape(-1).float() for g in grads]
                         + [torch.tensor(extra, dtype=torch.float32, device=grads[0].device if grads else "cpu")])
        flat = reduce(flat, reduction="sum")
        at = 0
        for g in grads:
            g.copy_(flat[at:at + g.numel()].view_as(g))
            at += g.numel()
        return [float(x) for x in flat[at:].tolist()]

    def from_main(self, value: float) -> float:
        """Rank 0's ``value`` on every rank (what decides early stopping must be one decision)."""
        if self.world == 1:
            return value
        import torch
        from accelerate.utils import broadcast

        t = torch.tensor([float(value)], dtype=torch.float64, device=_device())
        return float(broadcast(t, from_process=0).item())

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (a cancel seen by one stops all at this step)."""
        if self.world == 1:
            return flag
        return self.total(1.0 if flag else 0.0) > 0

    def barrier(self) -> None:
        if self.world > 1:
            from accelerate import PartialState

            PartialState().wait_for_everyone()


SINGLE = Group()
_current = SINGLE


def _device() -> Any:
    from accelerate import PartialState

    return PartialState().device


def current() -> Group:
    """The group this process trains in (:data:`SINGLE` unless :func:`join` was called)."""
    return _current


def join(device: str = "auto") -> Group:
    """Join the group the launcher set up (``RANK``, ``WORLD_SIZE`` in the environment) through
    accelerate's ``PartialState``: ``nccl`` with one GPU per process when the job trains on CUDA,
    ``gloo`` otherwise. Without ``WORLD_SIZE`` > 1 this is :data:`SINGLE` and nothing is initialised
    (nor imported)."""
    global _current
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        _current = SINGLE
        return _current
    import torch
    from accelerate import PartialState

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    if cuda and torch.cuda.device_count() <= local:
        raise ConfigError(f"process {rank} of {world} needs GPU {local}, and this machine has "
                          f"{torch.cuda.device_count()}", hint="ask for fewer processes (--processes/--gpus)")
    PartialState(cpu=not cuda)  # reads the same RANK/WORLD_SIZE; sets cuda:LOCAL_RANK as the device on CUDA
    _current = Group(rank=rank, world=world)
    return _current


def finish() -> None:
    """Leave the group (at the end of the worker)."""
    global _current
    if _current.world > 1:
        from accelerate import PartialState

        PartialState().destroy_process_group()
    _current = SINGLE
