"""Training data for the LoRA trainer: chat JSONL rows, their tokens and labels, batches and splits.

An example is ``{"messages": [...]}`` whose last message is the assistant turn to learn. Import-light:
torch is imported inside the functions that build tensors or draw permutations (torch's own
generator, so that splits and folds stay what they were for a given seed).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
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


def encode_example(tokenizer: Any, messages: list[dict], max_length: int | None = None) -> dict[str, Any]:
    """Token ids and labels; labels are -100 everywhere but the final assistant turn (and its end token).
    ``max_length`` None: the whole example (see :func:`truncate`)."""
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    if not full.startswith(prompt):
        raise ModelError("the chat template renders the prompt differently with and without the answer")
    p_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    t_ids = tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    if eos in t_ids:  # learn to stop, but not what the template writes after the end token
        t_ids = t_ids[:t_ids.index(eos) + 1]
    row = {"input_ids": p_ids + t_ids, "labels": [IGNORE] * len(p_ids) + list(t_ids), "truncated": False,
           "target": messages[-1]["content"].strip(), "prompt": messages[:-1], "prompt_tokens": len(p_ids)}
    return truncate(row, max_length)


def truncate(row: dict[str, Any], max_length: int | None) -> dict[str, Any]:
    """Keep the answer, drop the start of the prompt (or the answer's tail if it alone is too long)."""
    ids, labels = row["input_ids"], row["labels"]
    if max_length is None or len(ids) <= max_length:
        return row
    p = row["prompt_tokens"]
    if len(ids) - p < max_length:
        ids, labels = ids[-max_length:], labels[-max_length:]
    else:
        ids, labels = ids[p:][:max_length], labels[p:][:max_length]
    return {**row, "input_ids": ids, "labels": labels, "truncated": True}


AUTO_MAX_LENGTH = 2048  # the most max_length=None chooses (tokens); a longer example is cut to it


@dataclass
class LengthPlan:
    """The ``max_length`` a run uses and what it costs the data."""

    max_length: int
    chosen: bool  # picked from the data (the setting was None)
    examples: int
    longest: int
    mean: float
    truncated: int  # examples longer than max_length: they lose the start of their prompt

    def warning(self) -> str | None:
        if not self.truncated:
            return None
        return (f"{self.truncated} of {self.examples} example(s) are longer than max_length {self.max_length} "
                f"tokens (longest {self.longest}) and lose the start of their prompt")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_lengths(lengths: Sequence[int], requested: int | None, *, cap: int = AUTO_MAX_LENGTH) -> LengthPlan:
    """The max_length for examples of these token ``lengths``: ``requested``, or (None) the longest,
    at most ``cap``. A ConfigError when most examples would be cut."""
    n = len(lengths)
    longest = max(lengths, default=0)
    max_length = requested if requested is not None else max(1, min(longest, cap))
    cut = sum(1 for x in lengths if x > max_length)
    plan = LengthPlan(max_length, requested is None, n, longest, round(sum(lengths) / n, 1) if n else 0.0, cut)
    if n and cut * 2 > n:
        raise ConfigError(f"{cut} of {n} examples are longer than max_length {max_length} tokens "
                          f"(longest {longest}, mean {plan.mean:.0f}): most would lose the start of their prompt",
                          hint=f"set max_length to at least {longest} (--set max_length={longest}), or leave it "
                               f"unset to choose it from the data" + ("" if longest <= cap else
                                                                       ", or export with a shorter prompt version"))
    return plan


def encode_all(tokenizer: Any, train: list[Example], val: list[Example],
               max_length: int | None) -> tuple[list[dict], list[dict], LengthPlan]:
    """Encode both splits whole, choose (or check) max_length on all of them, then cut."""
    train_enc = [encode_example(tokenizer, e["messages"]) for e in train]
    val_enc = [encode_example(tokenizer, e["messages"]) for e in val]
    plan = plan_lengths([len(r["input_ids"]) for r in train_enc + val_enc], max_length)
    return ([truncate(r, plan.max_length) for r in train_enc], [truncate(r, plan.max_length) for r in val_enc],
            plan)


def truncated_count(encoded: Sequence[dict]) -> int:
    """How many encoded examples lost tokens to ``max_length``."""
    return sum(r["truncated"] for r in encoded)


def padded_tokens(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> list[int]:
    """Tokens a right-padded batch holds (rows × the longest row), per batch of indices into ``lengths``."""
    return [len(b) * max((lengths[i] for i in b), default=0) for b in batches]


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
