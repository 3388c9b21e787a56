"""Settings of a LoRA fine-tune: one dataclass with help text on every field.

Defaults suit small chat datasets (hundreds of examples) on the embedded 135M model on a CPU.
Layering follows trl: defaults, then a file, then command-line flags —
``TrainConfig.from_dict({**from_file, **from_flags})``. This module imports nothing heavy.
"""

from __future__ import annotations

import difflib
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from ..errors import ConfigError

SCHEDULERS = ("linear", "cosine", "constant")


def _f(default: Any, help: str, **kw: Any) -> Any:
    if callable(default) and not isinstance(default, type):
        return field(default_factory=default, metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class TrainConfig:
    """How to train one LoRA adapter. Every field has ``metadata["help"]`` (CLI help text)."""

    base: str = _f("local/smollm2", "Base model: local/smollm2 (embedded), local/<HF folder or .gguf>, "
                   "or a folder path.")
    epochs: int = _f(3, "Passes over the training set (early stopping may end sooner).")
    learning_rate: float = _f(1e-3, "Peak AdamW learning rate for the LoRA weights (1e-3 suits short runs on "
                              "a few hundred examples; lower it for large sets or larger models).")
    lr_scheduler: str = _f("linear", "Learning-rate schedule after warm-up: linear, cosine or constant.",
                           choices=SCHEDULERS)
    warmup_ratio: float = _f(0.1, "Fraction of the optimizer steps spent warming the learning rate up from 0.")
    batch_size: int = _f(8, "Examples per micro-batch.")
    grad_accum: int = _f(1, "Micro-batches per optimizer step (effective batch = batch_size x grad_accum).")
    lora_r: int = _f(16, "LoRA rank.")
    lora_alpha: int = _f(32, "LoRA scaling numerator (the update is scaled by alpha / r).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA input during training.")
    target_modules: list[str] = _f(lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
                                   "Module names that get LoRA adapters (attention projections by default).")
    weight_decay: float = _f(0.0, "AdamW weight decay on the LoRA weights.")
    max_grad_norm: float = _f(1.0, "Clip the gradient norm to this value (0 = no clipping).")
    max_length: int = _f(256, "Longest tokenized example; longer ones lose the start of their prompt.")
    seed: int = _f(0, "Seed for LoRA initialisation, shuffling, dropout and the validation split.")
    early_stopping_patience: int | None = _f(2, "Stop after this many evaluations without a better "
                                             "validation loss; the best adapter is kept. None or 0 = off.")
    eval_every: str | int = _f("epoch", "Evaluate validation loss every epoch ('epoch') or every N optimizer steps.")
    folds: int = _f(1, "K for K-fold cross-validation on small sets (1 = a single train/validation split).")
    val_fraction: float = _f(0.1, "Share of the training set held out for validation when no validation file is given.")
    max_steps: int | None = _f(None, "Stop after this many optimizer steps (smoke tests); None = all epochs.")
    checkpoint_every: int | None = _f(50, "Write a resumable checkpoint every N optimizer steps (and at each "
                                      "epoch end). None or 0 = epoch ends only.")
    eval_generate: bool = _f(True, "After training, generate greedily on the validation prompts and report "
                             "accuracy and per-label precision/recall.")
    eval_batch_size: int = _f(16, "Prompts per left-padded generation batch (and per validation-loss batch).")
    max_new_tokens: int = _f(32, "Generation budget for the validation answers (capped at the longest "
                             "target + a few tokens).")

    def __post_init__(self) -> None:
        self.validate()

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def help(cls) -> dict[str, str]:
        """Field name -> help text (for CLI flags and docs)."""
        return {f.name: f.metadata["help"] for f in fields(cls)}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        out = {}
        for f in fields(cls):
            out[f.name] = f.default_factory() if f.default is MISSING else f.default
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, where: str | None = None) -> "TrainConfig":
        """Build from a mapping (a file's contents, flags); unknown keys are a ConfigError."""
        data = dict(data or {})
        names = cls.field_names()
        unknown = [k for k in data if k not in names]
        if unknown:
            key = unknown[0]
            close = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(names)
            raise ConfigError(f"unknown fine-tune setting {key!r}", where=where, hint=hint)
        try:
            return cls(**{k: _coerce(k, v) for k, v in data.items()})
        except ConfigError as exc:
            if where and not exc.where:
                exc.where = where
                exc.args = (exc.one_line(),)
            raise

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    # -- checks ---------------------------------------------------------------------------
    def validate(self) -> None:
        def bad(name: str, why: str) -> None:
            raise ConfigError(f"fine-tune setting {name}={getattr(self, name)!r}: {why}",
                              hint=self.help()[name])

        for name in ("epochs", "batch_size", "grad_accum", "lora_r", "max_length", "folds",
                     "eval_batch_size", "max_new_tokens"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                bad(name, "must be a positive integer")
        if not isinstance(self.base, str) or not self.base:
            bad("base", "must be a model name")
        if not (isinstance(self.learning_rate, (int, float)) and self.learning_rate > 0):
            bad("learning_rate", "must be > 0")
        if self.lr_scheduler not in SCHEDULERS:
            bad("lr_scheduler", "must be one of " + ", ".join(SCHEDULERS))
        if not 0 <= self.warmup_ratio < 1:
            bad("warmup_ratio", "must be in [0, 1)")
        if not 0 <= self.lora_dropout < 1:
            bad("lora_dropout", "must be in [0, 1)")
        if not (isinstance(self.lora_alpha, (int, float)) and self.lora_alpha > 0):
            bad("lora_alpha", "must be > 0")
        if (not isinstance(self.target_modules, list) or not self.target_modules
                or not all(isinstance(m, str) and m for m in self.target_modules)):
            bad("target_modules", "must be a non-empty list of module names")
        if self.weight_decay < 0:
            bad("weight_decay", "must be >= 0")
        if self.max_grad_norm < 0:
            bad("max_grad_norm", "must be >= 0")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 0:
            bad("early_stopping_patience", "must be >= 0 or None")
        if self.eval_every != "epoch" and (not isinstance(self.eval_every, int)
                                           or isinstance(self.eval_every, bool) or self.eval_every < 1):
            bad("eval_every", "must be 'epoch' or a positive number of steps")
        if not 0 < self.val_fraction < 1:
            bad("val_fraction", "must be in (0, 1)")
        for name in ("max_steps", "checkpoint_every"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
                bad(name, "must be a non-negative integer or None")


def _coerce(name: str, value: Any) -> Any:
    """Accept the string forms that flags and env vars produce ("3", "1e-3", "q_proj,v_proj")."""
    if not isinstance(value, str):
        if name in ("learning_rate", "warmup_ratio", "lora_dropout", "weight_decay", "val_fraction",
                    "max_grad_norm", "lora_alpha") and isinstance(value, int) and not isinstance(value, bool):
            return float(value) if name != "lora_alpha" else value
        return value
    text = value.strip()
    if name == "target_modules":
        return [m.strip() for m in text.split(",") if m.strip()]
    if name in ("early_stopping_patience", "max_steps", "checkpoint_every") and text.lower() in ("none", ""):
        return None
    if name == "eval_every":
        return text if text == "epoch" else _num(name, text, int)
    if name == "eval_generate":
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"fine-tune setting {name}={value!r}: must be true or false")
    if name in ("epochs", "batch_size", "grad_accum", "lora_r", "max_length", "seed", "folds",
                "early_stopping_patience", "max_steps", "checkpoint_every", "eval_batch_size",
                "max_new_tokens"):
        return _num(name, text, int)
    if name in ("learning_rate", "warmup_ratio", "lora_dropout", "weight_decay", "val_fraction",
                "max_grad_norm", "lora_alpha"):
        return _num(name, text, float)
    return value


def _num(name: str, text: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"fine-tune setting {name}={text!r}: not {what}") from None
