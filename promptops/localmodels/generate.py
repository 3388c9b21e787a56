"""Batched generation for chat prompts: left-padded, so every row's answer starts at one column.

Greedy answers in a batch equal one-by-one answers (the attention mask hides the padding). torch
is imported on the first call.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Generated", "generate", "greedy", "chat_stop_ids"]


@dataclass
class Generated:
    """One answer: stripped text without special tokens, the token counts, and ``finish_reason``
    ``"stop"`` (an end token came) or ``"length"`` (``max_new_tokens`` ran out)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str


def generate(model: Any, tokenizer: Any, messages_list: Sequence[list[dict]], *, max_new_tokens: int,
             temperature: float = 0.0, top_p: float | None = None, seed: int | None = None,
             eos_ids: Collection[int] | None = None) -> list[Generated]:
    """One ``model.generate`` call for all of ``messages_list``.

    ``temperature`` 0 is greedy; above 0 it samples (with ``top_p``), and ``seed`` seeds torch
    just before, so a sample is reproducible for the same batch only. ``eos_ids``: the tokens
    that end an answer (default: the model's generation config, else the tokenizer's end token).
    The caller holds whatever lock the model needs; the model is used as it is (train/eval mode)."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    prompts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages_list]
    rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    gen_kw: dict[str, Any] = {"max_new_tokens": max_new_tokens, "pad_token_id": pad}
    if temperature > 0:
        gen_kw.update(do_sample=True, temperature=temperature)
        if top_p is not None:
            gen_kw["top_p"] = top_p
    else:  # None, not the model's sampling defaults: transformers warns about those when greedy
        gen_kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    if eos_ids is not None:
        gen_kw["eos_token_id"] = list(eos_ids)
    with torch.no_grad():
        if seed is not None:
            torch.manual_seed(seed)
        device = getattr(model, "device", None)
        if device is not None and getattr(device, "type", "cpu") != "cpu":
            ids, mask = ids.to(device), mask.to(device)
        out = model.generate(input_ids=ids, attention_mask=mask, **gen_kw)
    eos = set(eos_ids) if eos_ids is not None else _eos_ids(model, tokenizer)
    results = []
    for row, prompt in zip(out, rows):
        gen = row[width:].tolist()
        n = next((i + 1 for i, t in enumerate(gen) if t in eos), None)
        finish = "stop" if n is not None else "length"
        gen = gen[:n] if n is not None else gen  # what follows the end token is padding
        text = tokenizer.decode(gen, skip_special_tokens=True)
        results.append(Generated(text.strip(), len(prompt), len(gen), finish))
    return results


def chat_stop_ids(tokenizer: Any) -> list[int]:
    """The tokenizer's end token and ChatML's ``<|im_end|>``, where the tokenizer has them: a
    chat answer ends at either, whatever the model's generation config says."""
    return [t for t in {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
            if isinstance(t, int) and t >= 0 and t != tokenizer.unk_token_id]


def greedy(model: Any, tokenizer: Any, messages_list: Sequence[list[dict]], max_new_tokens: int = 32,
           batch_size: int = 16) -> list[str]:
    """Greedy answers (stripped text) in batches of ``batch_size``, ending at :func:`chat_stop_ids`;
    the model is in eval mode meanwhile and back in its own mode after."""
    was_training = model.training
    model.eval()
    stop = chat_stop_ids(tokenizer)
    out: list[str] = []
    for i in range(0, len(messages_list), batch_size):
        out += [g.text for g in generate(model, tokenizer, messages_list[i:i + batch_size],
                                         max_new_tokens=max_new_tokens, eos_ids=stop or None)]
    model.train(was_training)
    return out


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids = model.generation_config.eos_token_id
    if ids is None:
        ids = tokenizer.eos_token_id
    ids = set(ids) if isinstance(ids, (list, tuple)) else {ids}
    ids.discard(None)
    return ids
