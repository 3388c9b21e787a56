"""Training data for the LoRA trainer: chat JSONL rows, their tokens and labels, batches and splits.

An example is ``{"messages": [...]}`` whose last message is the assistant turn to learn. Import-light:
torch is imported inside the functions that build tensors or draw permutations (torch's own
generator, so that splits and folds stay what they were for a given seed).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from ..errors import ConfigError, ModelError

Example = dict[str, Any]
IGNORE = -100  # the label of a position that is not learned (cross_entropy's ignore_index)


def read_chat_jsonl(path: str | os.PathLike) -> list[Example]:
    """Read ``{"messages": [...]}`` lines; each must end with the assistant turn to learn."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("dataset file not found", where=str(path))
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not JSON: {exc.msg}", where=f"{path}:{n}") from None
        out.append(check_example(row, where=f"{path}:{n}"))
    return out


def check_example(row: Any, *, where: str) -> Example:
    """``row`` (a ``{"messages": [...]}`` mapping or the bare list) as an example, or a ConfigError at ``where``."""
    msgs = row.get("messages") if isinstance(row, dict) else row
    if not isinstance(msgs, list) or len(msgs) < 2:
        raise ConfigError("expected {\"messages\": [...]} with a prompt and an assistant turn", where=where)
    for m in msgs:
        if not (isinstance(m, dict) and m.get("role") in ("system", "user", "assistant")
                and isinstance(m.get("content"), str)):
            raise ConfigError("each message needs a role (system/user/assistant) and string content", where=where)
    if msgs[-1]["role"] != "assistant":
        raise ConfigError("the last message must be the assistant turn (the target)", where=where)
    return {"messages": msgs}


def load_examples(data: Any, what: str) -> list[Example]:
    """Examples from a JSONL path or a list of rows (``what`` names the list in errors)."""
    if isinstance(data, (str, os.PathLike)):
        return read_chat_jsonl(data)
    return [check_example(row, where=f"{what} example {i}") for i, row in enumerate(data or [])]


def encode_example(tokenizer: Any, messages: list[dict], max_length: int) -> dict[str, Any]:
    """Token ids and labels; labels are -100 everywhere but the final assistant turn (and its end token)."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ModelError("the chat template renders the prompt differently with and without the answer")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    t_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    if eos in t_ids:  # learn to stop, but not what the template writes after the end token
        t_ids = t_ids[:t_ids.index(eos) + 1]
    ids, labels = p_ids + t_ids, [IGNORE] * len(p_ids) + list(t_ids)
    truncated = len(ids) > max_length
    if truncated:  # keep the answer; drop the start of the prompt (or the answer's tail if it alone is too long)
        ids, labels = (ids[-max_length:], labels[-max_length:]) if len(t_ids) < max_length else \
            (ids[len(p_ids):][:max_length], labels[len(p_ids):][:max_length])
    return {"input_ids": ids, "labels": labels, "truncated": truncated,
            "target": messages[-1]["content"].strip(), "prompt": messages[:-1]}


def truncated_count(encoded: Sequence[dict]) -> int:
    """How many encoded examples lost tokens to ``max_length``."""
    return sum(r["truncated"] for r in encoded)


def collate(rows: Sequence[dict], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors (input_ids, attention_mask, labels) of encoded examples, for training."""
    import torch

    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The micro-batches (example indices) of one epoch: a fresh order per epoch, reproducible from
    the seed alone, so a resumed run sees the batches the interrupted one would have."""
    import torch

    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1000 + epoch))
    return [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]


def split_validation(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, validation): a seeded shuffle, ``fraction`` of it (at least one example) held out."""
    import torch

    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = max(1, round(len(examples) * fraction))
    return [examples[i] for i in order[n_val:]], [examples[i] for i in order[:n_val]]


def stratified_folds(examples: list[Example], k: int, seed: int) -> list[list[int]]:
    """``k`` folds of example indices, each with about the same share of every target label."""
    import torch

    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    order.sort(key=lambda i: examples[i]["messages"][-1]["content"].strip())  # stable: shuffled within a label
    folds: list[list[int]] = [[] for _ in range(k)]
    for pos, i in enumerate(order):
        folds[pos % k].append(i)
    return folds
