"""What a LoRA training run carries from step to step, and its resumable checkpoint on disk.

``<out>/checkpoint/state.pt`` holds the adapter weights, the best adapter so far, the optimizer and
scheduler states, torch's RNG state and :class:`TrainerState`; ``trainer_state.json`` beside it is
the same state for people. A new checkpoint is written next to the old one and swapped in, so a
kill at any moment leaves one complete checkpoint (``checkpoint`` or ``checkpoint.old``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._util.fs import publish_dir
from .config import TrainConfig

CHECKPOINT = "checkpoint"
# settings that change neither the weights nor the step sequence: a run may resume with other values
RESUMABLE_CHANGES = ("checkpoint_every", "eval_generate", "eval_batch_size", "max_new_tokens",
                     "device", "precision", "gradient_checkpointing")  # the same steps on another device


@dataclass
class TrainerState:
    """The progress of a run: the loss curve, the evaluations, the best so far, early stopping.

    Saved in every checkpoint as a plain dict (the field order is the file's key order)."""

    step: int = 0
    losses: list[dict[str, Any]] = field(default_factory=list)  # {"step", "loss", "lr"} per optimizer step
    evals: list[dict[str, Any]] = field(default_factory=list)  # {"step", "epoch", "val_loss"}
    best_val_loss: float | None = None
    best_step: int | None = None
    best_epoch: float | None = None
    bad_evals: int = 0  # evaluations since the best one
    stopped_early: bool = False
    fingerprint: str = ""  # of the settings and data that fix the run (see fingerprint())
    total_steps: int = 0

    @property
    def last_loss(self) -> float | None:
        return self.losses[-1]["loss"] if self.losses else None

    @property
    def last_val_loss(self) -> float | None:
        return self.evals[-1]["val_loss"] if self.evals else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainerState":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def fingerprint(config: TrainConfig, train_enc: list[dict], val_enc: list[dict]) -> str:
    """A hash of what decides the run's weights: the settings (bar :data:`RESUMABLE_CHANGES`) and the tokens."""
    keep = {k: v for k, v in config.to_dict().items() if k not in RESUMABLE_CHANGES}
    h = hashlib.sha256(json.dumps(keep, sort_keys=True).encode())
    for rows in (train_enc, val_enc):
        h.update(json.dumps([(r["input_ids"], r["labels"]) for r in rows]).encode())
    return h.hexdigest()


def adapter_weights(model: Any) -> dict[str, Any]:
    """A copy of the trainable (LoRA) parameters."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def load_adapter_weights(model: Any, weights: dict[str, Any]) -> None:
    """Copy ``weights`` (from :func:`adapter_weights`) back into ``model``."""
    import torch

    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, t in weights.items():
            params[n].copy_(t)


def save_checkpoint(out: Path, model: Any, optimizer: Any, scheduler: Any, state: TrainerState,
                    best_adapter: dict | None) -> None:
    """Write ``<out>/checkpoint`` (see the module docstring)."""
    import torch

    tmp, final = out / (CHECKPOINT + ".tmp"), out / CHECKPOINT
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    plain = state.to_dict()
    torch.save({"adapter": adapter_weights(model), "best_adapter": best_adapter, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "torch_rng": torch.get_rng_state(), "state": plain},
               tmp / "state.pt")
    (tmp / "trainer_state.json").write_text(json.dumps(plain, indent=1))
    publish_dir(tmp, final)  # the old checkpoint stays readable as checkpoint.old until the new one is in place


def find_checkpoint(out: Path) -> Path | None:
    """The ``state.pt`` of the last complete checkpoint under ``out``, if any."""
    for name in (CHECKPOINT, CHECKPOINT + ".old"):
        if (out / name / "state.pt").is_file():
            return out / name / "state.pt"
    return None


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The saved tensors and states (``state`` as a :class:`TrainerState`)."""
    import torch

    saved = torch.load(path, weights_only=True)
    return {**saved, "state": TrainerState.from_dict(saved["state"])}


def drop_checkpoint(out: Path) -> None:
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
