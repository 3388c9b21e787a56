"""Settings of a LoRA fine-tune: one dataclass with help text on every field.

Defaults suit small chat datasets (hundreds of examples) on the embedded 135M model on a CPU.
Layering follows trl: defaults, then a file, then command-line flags —
``TrainConfig.from_dict({**from_file, **from_flags})``. Types, bounds and choices sit on the fields
and :mod:`promptops._util.schema` checks them. This module imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from .._util import schema
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
                   "or a folder path.", nonempty=True)
    epochs: int = _f(3, "Passes over the training set (early stopping may end sooner).", ge=1)
    learning_rate: float = _f(1e-3, "Peak AdamW learning rate for the LoRA weights (1e-3 suits short runs on "
                              "a few hundred examples; lower it for large sets or larger models).", gt=0)
    lr_scheduler: str = _f("linear", "Learning-rate schedule after warm-up: linear, cosine or constant.",
                           choices=SCHEDULERS)
    warmup_ratio: float = _f(0.1, "Fraction of the optimizer steps spent warming the learning rate up from 0.",
                             ge=0, lt=1)
    batch_size: int = _f(8, "Examples per micro-batch.", ge=1)
    grad_accum: int = _f(1, "Micro-batches per optimizer step (effective batch = batch_size x grad_accum).", ge=1)
    lora_r: int = _f(16, "LoRA rank.", ge=1)
    # int | float: a file may say 16.5, and an int stays an int in training_config.json
    lora_alpha: int | float = _f(32, "LoRA scaling numerator (the update is scaled by alpha / r).", gt=0)
    lora_dropout: float = _f(0.05, "Dropout on the LoRA input during training.", ge=0, lt=1)
    target_modules: list[str] = _f(lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
                                   "Module names that get LoRA adapters (attention projections by default).",
                                   nonempty=True)
    weight_decay: float = _f(0.0, "AdamW weight decay on the LoRA weights.", ge=0)
    max_grad_norm: float = _f(1.0, "Clip the gradient norm to this value (0 = no clipping).", ge=0)
    max_length: int | None = _f(None, "Longest tokenized example kept whole. None: chosen from the data (the "
                                "longest example, at most 2048 tokens). Longer ones lose the start of their "
                                "prompt (counted and warned about); a job refuses to start when most would.", ge=1)
    seed: int = _f(0, "Seed for LoRA initialisation, shuffling, dropout and the validation split.")
    early_stopping_patience: int | None = _f(2, "Stop after this many evaluations without a better "
                                             "validation loss; the best adapter is kept. None or 0 = off.", ge=0)
    eval_every: str | int = _f("epoch", "Evaluate validation loss every epoch ('epoch') or every N optimizer steps.",
                               choices=("epoch",), ge=1)
    folds: int = _f(1, "K for K-fold cross-validation on small sets (1 = a single train/validation split).", ge=1)
    val_fraction: float = _f(0.1, "Share of the training set held out for validation when no validation file "
                             "is given.", gt=0, lt=1)
    max_steps: int | None = _f(None, "Stop after this many optimizer steps (smoke tests); None = all epochs.", ge=0)
    checkpoint_every: int | None = _f(50, "Write a resumable checkpoint every N optimizer steps (and at each "
                                      "epoch end). None or 0 = epoch ends only.", ge=0)
    eval_generate: bool = _f(True, "After training, generate greedily on the validation prompts and report "
                             "accuracy and per-label precision/recall.")
    eval_batch_size: int = _f(16, "Prompts per left-padded generation batch (and per validation-loss batch).", ge=1)
    max_new_tokens: int = _f(32, "Generation budget for the validation answers (capped at the longest "
                             "target + a few tokens).", ge=1)
    device: str = _f("auto", "Where to train: auto (CUDA, then MPS, then the CPU), cuda, mps or cpu.",
                     choices=("auto", "cpu", "cuda", "mps"))
    precision: str = _f("auto", "Compute precision: auto (bf16 on a CUDA GPU that supports it, else fp32), "
                        "fp32, bf16 or fp16.", choices=("auto", "fp32", "bf16", "fp16"))
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass: less memory, "
                                      "~30% more compute (large bases on small GPUs).")

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
        """Build from a mapping (a file's contents, flags); unknown keys are a ConfigError.

        Values may be the strings flags and env vars produce ("3", "1e-3", "q_proj,v_proj", "none")."""
        try:
            return schema.build(cls, dict(data or {}), coerce=True)
        except schema.SchemaError as exc:
            raise _config_error(exc, where) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self) -> None:
        """Check every field against its declared type, bounds and choices (ConfigError)."""
        try:
            schema.check(self)
        except schema.SchemaError as exc:
            raise _config_error(exc) from None


def _config_error(exc: schema.SchemaError, where: str | None = None) -> ConfigError:
    if isinstance(exc, schema.UnknownKeyError):
        hint = f"did you mean {exc.suggestion!r}?" if exc.suggestion else "known keys: " + ", ".join(exc.allowed)
        return ConfigError(f"unknown fine-tune setting {exc.unknown!r}", where=where, hint=hint)
    return ConfigError(f"fine-tune setting {exc.loc}={exc.value!r}: {exc.problem}", where=where,
                       hint=TrainConfig.help()[exc.key])
