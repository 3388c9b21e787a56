"""On-machine models: where their files are (:mod:`.resolve`), loading them (:mod:`.load`) and
batched generation (:mod:`.generate`), for the ``local/`` provider and the LoRA trainer alike.

Importing this package is cheap: torch, transformers and peft are imported on the first load or
generation."""

from .generate import Generated, chat_stop_ids, generate, greedy
from .load import load, quiet_peft, set_pad_token
from .resolve import EMBEDDED_NAME, adapter_roots, resolve_adapter, resolve_base, smollm2_gguf, with_adapter_path

__all__ = ["EMBEDDED_NAME", "Generated", "adapter_roots", "chat_stop_ids", "generate", "greedy",
           "load", "quiet_peft", "resolve_adapter", "resolve_base", "set_pad_token", "smollm2_gguf", "with_adapter_path"]
