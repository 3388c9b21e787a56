"""LoRA fine-tuning. Import-light: torch, transformers and peft load only when the trainer is used.

``from promptops.finetune import TrainConfig, train, train_folds`` — ``train`` and friends come from
their modules (:mod:`~promptops.finetune.trainer`, :mod:`~promptops.finetune.data`) on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from .config import TrainConfig

_LAZY = {"train": "trainer", "train_folds": "trainer", "TrainResult": "trainer", "FoldsResult": "trainer",
         "LoraTrainer": "trainer", "load_base": "trainer", "generate": "modeling",
         "read_chat_jsonl": "data", "encode_example": "data"}

__all__ = ["TrainConfig", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
