"""The step time of a LoRA job, measured on this machine with a few real steps before the job.

:func:`probe` loads the base model (quietly: no GGUF progress bar, no library warnings), tokenizes
every example of the set with its chat template (so ``max_length`` is chosen from the data, or a
refusal raised when most examples would be cut: :func:`promptops.finetune.data.plan_lengths`),
then trains ``steps`` optimizer steps (default 3) of the job's batch shape on examples sampled from
the set, in a temporary folder, and times them. The first step warms up and is not counted when
there are more. The time per padded token of the timed steps, times the set's mean padded tokens
per step (its batches as the job will draw them), is the estimate's seconds per step.

:func:`measure` is what the flow and ``promptops finetune`` call: the probe, or, when it cannot run
(``steps=0``, no torch, the model cannot be loaded), a :class:`Measured` with ``measured=False``
and the reason, so the estimate falls back to a previous job's figure or the documented default.
The probe costs a model load and ``steps`` steps (measured: ~10 s on 2 CPU cores for the embedded
model plus ~1–12 s per step depending on the examples' length).
"""

from __future__ import annotations

import contextlib
import io
import random
import statistics
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError, PromptopsError
from ..finetune import TrainConfig, trainer  # import-light: torch is imported on first use inside
from ..finetune.callbacks import TrainerCallback
from ..finetune.data import LengthPlan, encode_example, epoch_batches, padded_tokens, plan_lengths, read_chat_jsonl

DEFAULT_STEPS = 3


@dataclass
class Measured:
    """What the probe measured (``measured=False``: nothing, and ``reason`` says why)."""

    measured: bool
    reason: str = ""
    step_s: float | None = None  # seconds per optimizer step of this set (scaled from the timed steps)
    probe_step_s: float | None = None  # mean seconds of the timed steps as they ran
    steps_timed: int = 0
    sample: int = 0  # examples the probe trained on
    load_s: float | None = None  # loading the base model
    tokens_per_step: float | None = None  # padded tokens in a step of this set (mean)
    probe_tokens_per_step: float | None = None
    lengths: LengthPlan | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def source(self) -> str:
        if not self.measured:
            return f"not measured ({self.reason})"
        return (f"measured on this machine: {self.steps_timed} timed step(s) of {self.probe_step_s:.2f} s at "
                f"{self.probe_tokens_per_step:.0f} tokens/step, scaled to this set's {self.tokens_per_step:.0f}")


@contextlib.contextmanager
def quiet() -> Any:
    """No library warnings, no transformers logging below errors, no progress bars on stderr."""
    with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            from transformers.utils import logging as hf_logging

            level = hf_logging.get_verbosity()
            hf_logging.set_verbosity_error()
        except ImportError:  # the probe reports the missing library itself
            hf_logging = None
        try:
            yield
        finally:
            if hf_logging is not None:
                hf_logging.set_verbosity(level)


class _Timer(TrainerCallback):
    def __init__(self) -> None:
        self.marks: list[float] = []

    def on_step(self, trainer: Any) -> None:
        self.marks.append(time.perf_counter())


def measure(train_config: TrainConfig, train_path: str | Path, val_path: str | Path | None = None, *,
            steps: int | None = None, seed: int = 0) -> Measured:
    """:func:`probe`, or why it could not run. A ConfigError from the data (most examples longer
    than ``max_length``) is raised: it would fail the job too."""
    steps = DEFAULT_STEPS if steps is None else steps
    if steps <= 0:
        return Measured(False, "--measure-steps 0")
    try:
        return probe(train_config, train_path, val_path, steps=steps, seed=seed)
    except ConfigError:
        raise
    except (PromptopsError, ImportError, OSError, RuntimeError, ValueError) as exc:
        text = exc.one_line() if isinstance(exc, PromptopsError) else f"{type(exc).__name__}: {exc}"
        return Measured(False, text[:200])


def probe(train_config: TrainConfig, train_path: str | Path, val_path: str | Path | None = None, *,
          steps: int = DEFAULT_STEPS, seed: int = 0) -> Measured:
    """Time ``steps`` real optimizer steps on a sample of the set (see the module docstring)."""
    tc = train_config
    train = read_chat_jsonl(train_path)
    val = read_chat_jsonl(val_path) if val_path and Path(val_path).is_file() else []
    if not train:
        raise ConfigError("the training set is empty", where=str(train_path))
    t0 = time.perf_counter()
    with quiet():
        model, tok = trainer.load_base(tc.base)
    load_s = time.perf_counter() - t0
    lengths = [len(encode_example(tok, e["messages"])["input_ids"]) for e in train + val]
    plan = plan_lengths(lengths, tc.max_length)
    train_len = [min(x, plan.max_length) for x in lengths[:len(train)]]
    bs = tc.batch_size * tc.grad_accum
    rng = random.Random(seed)
    sample_idx = [rng.randrange(len(train)) for _ in range(bs * steps)]
    sample = [train[i] for i in sample_idx]
    probe_cfg = replace(tc, max_length=plan.max_length, epochs=1, max_steps=steps, eval_generate=False,
                        early_stopping_patience=None, checkpoint_every=None, eval_every="epoch", folds=1)
    timer = _Timer()
    with tempfile.TemporaryDirectory(prefix="promptops-probe-") as tmp, quiet():
        run = trainer.LoraTrainer(probe_cfg, sample, [sample[0]], tmp, model=model, tokenizer=tok, callbacks=[timer])
        run.fit()
        start = run.t_train
    marks = [start, *timer.marks]
    durations = [b - a for a, b in zip(marks, marks[1:])]
    # the padded tokens of each probe step (the trainer draws epoch 0's batches from its seed)
    batches = epoch_batches(len(sample), tc.batch_size, tc.seed, 0)
    micro = padded_tokens([train_len[i] for i in sample_idx], batches)
    per_step = [sum(micro[i * tc.grad_accum:(i + 1) * tc.grad_accum]) for i in range(len(durations))]
    timed = slice(1, None) if len(durations) > 1 else slice(None)
    secs, toks = sum(durations[timed]), sum(per_step[timed])
    # the set's own steps, drawn the way the job will draw them
    set_batches = epoch_batches(len(train), tc.batch_size, tc.seed, 0)
    set_micro = padded_tokens(train_len, set_batches)
    set_steps = [sum(set_micro[i:i + tc.grad_accum]) for i in range(0, len(set_micro), tc.grad_accum)]
    set_tokens = statistics.fmean(set_steps) if set_steps else float(toks)
    n_timed = len(durations[timed])
    return Measured(True, step_s=round(secs / max(toks, 1) * set_tokens, 3), probe_step_s=round(secs / n_timed, 3),
                    steps_timed=n_timed, sample=len(sample), load_s=round(load_s, 1),
                    tokens_per_step=round(set_tokens, 1), probe_tokens_per_step=round(toks / n_timed, 1),
                    lengths=plan)
