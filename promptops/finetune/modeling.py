"""The torch side of the LoRA trainer: importing the libraries, the loss, greedy generation.

``generate`` (left-padded batched greedy decoding) is what the trainer scores the validation set
with; the local provider does the same for serving.
"""

from __future__ import annotations

from typing import Any, Sequence

from .. import localmodels
from .._util.lazy import collector_paused
from ..errors import ModelError
from .data import IGNORE, collate


def require() -> Any:
    """Import torch, transformers and peft (the collector paused) and return torch; a missing one is
    a ModelError with the install hint, raised before any data is read or model loaded."""
    try:  # optional libraries, checked up front (the [local] extra)
        with collector_paused():
            import torch
            import torch.nn.functional  # noqa: F401
            from peft import LoraConfig, get_peft_model  # noqa: F401
            from transformers import AutoModelForCausalLM, AutoTokenizer, get_scheduler  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError(f"fine-tuning needs torch, transformers and peft ({exc.name} is missing)",
                         hint="pip install 'promptops[local]'  (torch==2.13.0 pinned: the CPU build)") from None
    return torch


def generate(model: Any, tokenizer: Any, messages_list: Sequence[list[dict]], max_new_tokens: int = 32,
             batch_size: int = 16) -> list[str]:
    """Greedy answers to chat prompts, in left-padded batches (the local provider's generation)."""
    require()
    return localmodels.greedy(model, tokenizer, messages_list, max_new_tokens=max_new_tokens, batch_size=batch_size)


def loss_sum(model: Any, batch: dict) -> tuple[Any, int]:
    """Summed token loss on the labelled positions, and their count."""
    import torch.nn.functional as F

    device = next(model.parameters()).device
    if device.type != "cpu":
        batch = {k: v.to(device) for k, v in batch.items()}
    labels = batch["labels"][:, 1:]
    keep = labels != IGNORE
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    plain = (head is not None and hasattr(base, "model") and not hasattr(base, "logit_scale")
             and getattr(base.config, "final_logit_softcapping", None) is None)
    if plain:  # the vocabulary projection only where there is a label: ~20% less compute, far less memory
        hidden = base.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        logits = head(hidden[:, :-1][keep])
        target = labels[keep]
    else:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        logits, target = logits.reshape(-1, logits.size(-1)), labels.reshape(-1)
    loss = F.cross_entropy(logits.float(), target, ignore_index=IGNORE, reduction="sum")
    return loss, int(keep.sum())


def evaluate_loss(model: Any, encoded: Sequence[dict], pad_id: int, batch_size: int = 16) -> float:
    """Mean loss per target token over ``encoded`` examples."""
    torch = require()
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(encoded), batch_size):
            loss, n = loss_sum(model, collate(encoded[i:i + batch_size], pad_id))
            total, tokens = total + float(loss), tokens + n
    model.train(was_training)
    return total / max(tokens, 1)
