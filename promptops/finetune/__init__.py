"""LoRA fine-tuning. Import-light: torch, transformers and peft load only when the trainer is used.

``from promptops.finetune import TrainConfig, train, train_folds`` — ``train`` and friends come from
:mod:`promptops.finetune.trainer` on first access.
"""

from __future__ import annotations

from typing import Any

from .config import TrainConfig

_TRAINER_NAMES = {"train", "train_folds", "TrainResult", "FoldsResult", "load_base", "generate",
                  "read_chat_jsonl", "encode_example"}

__all__ = ["TrainConfig", *sorted(_TRAINER_NAMES)]


def __getattr__(name: str) -> Any:
    if name in _TRAINER_NAMES:
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
