"""Hooks of the LoRA training loop: progress reports, early stopping, checkpoints.

The loop (:class:`promptops.finetune.trainer.LoraTrainer`) calls, for every optimizer step,
``on_step`` (the step is counted), then ``on_evaluate`` when a validation loss was computed, then
``on_step_end``; ``on_cancel`` when ``should_stop()`` ended the run and ``on_phase`` for the phases
after training (``generate``, ``done``, ``cancelled``). Callbacks run in list order; each reads and
may change ``trainer.state``. Import-light: nothing here touches torch itself.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # the trainer imports this module
    from .trainer import LoraTrainer

Progress = Callable[[dict[str, Any]], None]


class TrainerCallback:
    """Does nothing at every hook; subclasses override the ones they need."""

    def on_step(self, trainer: LoraTrainer) -> None:
        """After an optimizer step (``trainer.state.step`` counts it), before any evaluation."""

    def on_evaluate(self, trainer: LoraTrainer, improved: bool) -> None:
        """After a validation loss was recorded; ``improved``: it is the best so far."""

    def on_step_end(self, trainer: LoraTrainer, epoch_end: bool) -> None:
        """After the step's evaluation, if any; ``epoch_end``: the step finished an epoch."""

    def on_cancel(self, trainer: LoraTrainer) -> None:
        """``should_stop()`` said stop; the loop ends after this."""

    def on_phase(self, trainer: LoraTrainer, phase: str, extra: dict[str, Any]) -> None:
        """A phase after training began or ended: ``generate``, ``done`` or ``cancelled``."""


class ProgressReporter(TrainerCallback):
    """Sends ``on_progress({"step", "total_steps", "epoch", "loss", "val_loss", "eta_s",
    "examples_per_s", "phase", ...})`` after every step, evaluation and phase."""

    def __init__(self, on_progress: Progress):
        self.on_progress = on_progress
        self.speed: dict[str, float | None] = {"eta_s": None, "examples_per_s": None}

    def emit(self, trainer: LoraTrainer, **extra: Any) -> None:
        s = trainer.state
        self.on_progress({"step": s.step, "total_steps": trainer.total_steps,
                          "epoch": s.step / trainer.steps_per_epoch, "loss": s.last_loss,
                          "val_loss": s.last_val_loss, **self.speed, **extra})

    def on_step(self, trainer: LoraTrainer) -> None:
        elapsed = time.perf_counter() - trainer.t_train
        done = trainer.state.step - trainer.start_step
        self.speed.update(eta_s=elapsed / done * (trainer.total_steps - trainer.state.step),
                          examples_per_s=trainer.examples_seen / elapsed)
        self.emit(trainer, phase="train")

    def on_evaluate(self, trainer: LoraTrainer, improved: bool) -> None:
        self.emit(trainer, phase="eval")

    def on_phase(self, trainer: LoraTrainer, phase: str, extra: dict[str, Any]) -> None:
        self.emit(trainer, phase=phase, **extra)


class EarlyStopping(TrainerCallback):
    """Stops the run after ``patience`` evaluations in a row without a better validation loss
    (``None`` or 0: never). The trainer keeps the best adapter either way."""

    def __init__(self, patience: int | None):
        self.patience = patience

    def on_evaluate(self, trainer: LoraTrainer, improved: bool) -> None:
        s = trainer.state
        if improved:
            s.bad_evals = 0
            return
        s.bad_evals += 1
        if self.patience and s.bad_evals >= self.patience:
            s.stopped_early = True


class Checkpointer(TrainerCallback):
    """Writes a resumable checkpoint every ``every`` steps (``None``/0: only these), at each epoch
    end, at the last step, when early stopping ends the run and when it is cancelled."""

    def __init__(self, every: int | None):
        self.every = every

    def on_step_end(self, trainer: LoraTrainer, epoch_end: bool) -> None:
        step = trainer.state.step
        if (step >= trainer.total_steps or trainer.state.stopped_early or epoch_end
                or (self.every and step % self.every == 0)):
            trainer.save_checkpoint()

    def on_cancel(self, trainer: LoraTrainer) -> None:
        trainer.save_checkpoint()
