"""LoRA trainer: a plain PyTorch loop over chat JSONL, the only module that trains with torch/peft.

``train(config, train_data, val_data, out_dir)`` wraps the base model with a peft LoRA adapter,
trains it with AdamW, a warm-up schedule and gradient accumulation, computes the loss on the final
assistant turn only, evaluates validation loss every epoch (or every N steps), stops early and keeps
the best adapter, checkpoints everything needed to resume (adapter, optimizer, scheduler, step, RNG),
and finally generates greedily on the validation prompts for accuracy and per-label
precision/recall. ``<out>`` then holds ``adapter_model.safetensors`` + ``adapter_config.json``
(load with ``PeftModel.from_pretrained``), ``training_config.json`` and ``metrics.json``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import shutil
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ConfigError, ModelError
from ..providers import LOCAL
from .config import TrainConfig

from .._util.lazy import collector_paused

try:  # optional libraries, checked up front (the [local] extra)
    with collector_paused():
        import torch
        import torch.nn.functional as F
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer, get_scheduler
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ModelError(f"fine-tuning needs torch, transformers and peft ({exc.name} is missing)",
                     hint="pip install 'promptops[local]'  (torch==2.13.0 pinned: the CPU build)") from None

Example = dict[str, Any]
Progress = Callable[[dict[str, Any]], None]
CHECKPOINT = "checkpoint"


@dataclass
class TrainResult:
    """What one training run produced. ``model`` is the PeftModel holding the best adapter."""

    status: str  # "succeeded" or "cancelled"
    out_dir: Path
    steps: int
    total_steps: int
    best_step: int | None
    best_epoch: float | None
    best_val_loss: float | None
    stopped_early: bool
    resumed_from_step: int | None
    val_accuracy: float | None
    metrics: dict[str, Any]
    model: Any = field(default=None, repr=False)
    tokenizer: Any = field(default=None, repr=False)


@dataclass
class FoldsResult:
    """K-fold cross-validation: one score per fold (accuracy, or -val loss without generation)."""

    metric: str
    scores: list[float]
    mean: float
    std: float
    val_losses: list[float | None]
    folds: list[TrainResult] = field(repr=False)
    cancelled: bool = False  # should_stop() ended it early: scores cover the finished folds only


# -- base model --------------------------------------------------------------------------------
def load_base(base: str = "local/smollm2") -> tuple[Any, Any]:
    """Load ``local/smollm2`` (embedded GGUF), a ``.gguf`` file or an HF folder, in float32."""
    name = LOCAL.strip(base)
    if name == "smollm2":
        from ..embedded import smollm2_gguf

        path = smollm2_gguf()
    else:
        path = Path(name).expanduser()
    try:
        if path.is_file() and path.suffix == ".gguf":
            kw = {"gguf_file": path.name}
            src = str(path.parent)
        elif path.is_dir():
            kw, src = {}, str(path)
        else:
            raise ModelError(f"base model {base!r} not found", hint="use local/smollm2, an HF folder or a .gguf file")
        tokenizer = AutoTokenizer.from_pretrained(src, **kw)
        model = AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32, **kw)
    except ModelError:
        raise
    except Exception as exc:  # transformers raises many kinds; give one line with the cause
        raise ModelError(f"cannot load base model {base!r}: {exc}") from exc
    prepare_tokenizer(tokenizer)
    return model, tokenizer


def prepare_tokenizer(tokenizer: Any) -> Any:
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError("the tokenizer has no chat template", hint="fine-tune a chat (instruct) model")
    return tokenizer


# -- data ----------------------------------------------------------------------------------------
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


def _examples(data: Any, what: str) -> list[Example]:
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
    ids, labels = p_ids + t_ids, [-100] * len(p_ids) + list(t_ids)
    truncated = len(ids) > max_length
    if truncated:  # keep the answer; drop the start of the prompt (or the answer's tail if it alone is too long)
        ids, labels = (ids[-max_length:], labels[-max_length:]) if len(t_ids) < max_length else \
            (ids[len(p_ids):][:max_length], labels[len(p_ids):][:max_length])
    return {"input_ids": ids, "labels": labels, "truncated": truncated,
            "target": messages[-1]["content"].strip(), "prompt": messages[:-1]}


def _collate(rows: Sequence[dict], pad_id: int) -> dict[str, Any]:
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):  # right padding for training
        n = len(r["input_ids"])
        ids[i, :n], labels[i, :n], mask[i, :n] = torch.tensor(r["input_ids"]), torch.tensor(r["labels"]), 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _loss_sum(model: Any, batch: dict) -> tuple[Any, int]:
    """Summed token loss on the labelled positions, and their count."""
    labels = batch["labels"][:, 1:]
    keep = labels != -100
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
    loss = F.cross_entropy(logits.float(), target, ignore_index=-100, reduction="sum")
    return loss, int(keep.sum())


@torch.no_grad()
def evaluate_loss(model: Any, encoded: Sequence[dict], pad_id: int, batch_size: int = 16) -> float:
    """Mean loss per target token over ``encoded`` examples."""
    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    for i in range(0, len(encoded), batch_size):
        loss, n = _loss_sum(model, _collate(encoded[i:i + batch_size], pad_id))
        total, tokens = total + float(loss), tokens + n
    model.train(was_training)
    return total / max(tokens, 1)


@torch.no_grad()
def generate(model: Any, tokenizer: Any, messages_list: Sequence[list[dict]], max_new_tokens: int = 32,
             batch_size: int = 16) -> list[str]:
    """Greedy answers to chat prompts, in left-padded batches; stripped text without special tokens."""
    was_training = model.training
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    stop = [t for t in {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
            if isinstance(t, int) and t >= 0 and t != tokenizer.unk_token_id]
    out: list[str] = []
    for i in range(0, len(messages_list), batch_size):
        prompts = [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                   for m in messages_list[i:i + batch_size]]
        rows = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        width = max(len(r) for r in rows)
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows])
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
        gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                             do_sample=False, pad_token_id=pad, eos_token_id=stop or None)
        out += [tokenizer.decode(g[width:], skip_special_tokens=True).strip() for g in gen]
    model.train(was_training)
    return out


def classification_scores(pairs: Sequence[tuple[str, str]], max_labels: int = 100) -> dict[str, Any]:
    """Accuracy of exact matches, and precision/recall per label (labels = the set of targets)."""
    n = len(pairs)
    acc = sum(e == p for e, p in pairs) / n if n else None
    labels = sorted({e for e, _ in pairs})
    per_label = {}
    if len(labels) <= max_labels:
        for lab in labels:
            tp = sum(e == lab and p == lab for e, p in pairs)
            pred = sum(p == lab for _, p in pairs)
            sup = sum(e == lab for e, _ in pairs)
            per_label[lab] = {"precision": tp / pred if pred else 0.0, "recall": tp / sup if sup else 0.0,
                              "support": sup, "predicted": pred}
    return {"accuracy": acc, "n": n, "per_label": per_label}


# -- training --------------------------------------------------------------------------------------
def _trainable(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _load_trainable(model: Any, state: dict[str, Any]) -> None:
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t)


def _fingerprint(config: TrainConfig, train_enc: list[dict], val_enc: list[dict]) -> str:
    keep = {k: v for k, v in config.to_dict().items()
            if k not in ("checkpoint_every", "eval_generate", "eval_batch_size", "max_new_tokens")}
    h = hashlib.sha256(json.dumps(keep, sort_keys=True).encode())
    for rows in (train_enc, val_enc):
        h.update(json.dumps([(r["input_ids"], r["labels"]) for r in rows]).encode())
    return h.hexdigest()


def _save_checkpoint(out: Path, model: Any, opt: Any, sched: Any, state: dict, best: dict | None) -> None:
    tmp, final, old = out / (CHECKPOINT + ".tmp"), out / CHECKPOINT, out / (CHECKPOINT + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    torch.save({"adapter": _trainable(model), "best_adapter": best, "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "torch_rng": torch.get_rng_state(), "state": state},
               tmp / "state.pt")
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1))
    if final.exists():  # swap so a kill at any moment leaves one complete checkpoint
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _find_checkpoint(out: Path) -> Path | None:
    for name in (CHECKPOINT, CHECKPOINT + ".old"):
        if (out / name / "state.pt").is_file():
            return out / name / "state.pt"
    return None


def _split(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(examples), generator=g).tolist()
    n_val = max(1, round(len(examples) * fraction))
    return [examples[i] for i in order[n_val:]], [examples[i] for i in order[:n_val]]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def train(config: TrainConfig | dict, train_data: Any, val_data: Any = None, out_dir: str | os.PathLike = ".",
          *, model: Any = None, tokenizer: Any = None, resume: bool = True,
          on_progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train a LoRA adapter; see the module docstring. ``train_data``/``val_data``: JSONL paths or
    lists of ``{"messages": [...]}``; without ``val_data``, ``config.val_fraction`` is held out.
    A passed-in ``model`` is wrapped in place (``result.model.unload()`` gives the base back).
    With ``resume``, a checkpoint in ``<out>/checkpoint`` from the same config and data is continued.
    ``should_stop()`` is checked between optimizer steps: a checkpoint is written and the result's
    status is ``"cancelled"``."""
    t_start = time.perf_counter()
    config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    out = Path(out_dir)
    train_ex = _examples(train_data, "training")
    val_ex = _examples(val_data, "validation") if val_data is not None else None
    if val_ex is None:
        if len(train_ex) < 2:
            raise ConfigError(f"{len(train_ex)} training example(s): too few to hold out a validation split",
                              hint="give at least 2 examples or a validation file")
        train_ex, val_ex = _split(train_ex, config.val_fraction, config.seed)
    if not train_ex or not val_ex:
        raise ConfigError(f"need training and validation examples (got {len(train_ex)} and {len(val_ex)})")
    if model is None:
        model, tokenizer = load_base(config.base)
    elif tokenizer is None:
        raise ConfigError("a passed-in model needs its tokenizer")
    prepare_tokenizer(tokenizer)
    pad_id = tokenizer.pad_token_id
    train_enc = [encode_example(tokenizer, e["messages"], config.max_length) for e in train_ex]
    val_enc = [encode_example(tokenizer, e["messages"], config.max_length) for e in val_ex]
    fingerprint = _fingerprint(config, train_enc, val_enc)

    torch.manual_seed(config.seed)  # LoRA initialisation
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM")
    try:
        model = get_peft_model(model, lora)
    except ValueError as exc:
        raise ConfigError(f"LoRA target modules {config.target_modules} do not fit the base model: {exc}",
                          hint="Llama-style models: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj") from None
    model.peft_config["default"].base_model_name_or_path = config.base
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    bs, ga = config.batch_size, config.grad_accum
    steps_per_epoch = math.ceil(math.ceil(len(train_enc) / bs) / ga)
    total = config.epochs * steps_per_epoch
    if config.max_steps:
        total = min(total, config.max_steps)
    sched_name = "constant_with_warmup" if config.lr_scheduler == "constant" else config.lr_scheduler
    sched = get_scheduler(sched_name, opt, num_warmup_steps=round(config.warmup_ratio * total),
                          num_training_steps=total)

    state: dict[str, Any] = {"step": 0, "losses": [], "evals": [], "best_val_loss": None, "best_step": None,
                             "best_epoch": None, "bad_evals": 0, "stopped_early": False,
                             "fingerprint": fingerprint, "total_steps": total}
    best: dict | None = None
    resumed_from = None
    ckpt = _find_checkpoint(out) if resume else None
    if ckpt is not None:
        saved = torch.load(ckpt, weights_only=True)
        if saved["state"].get("fingerprint") != fingerprint:
            raise ConfigError("the checkpoint was made with another config or dataset", where=str(ckpt.parent),
                              hint="use the same settings and data, resume=False, or another output folder")
        _load_trainable(model, saved["adapter"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        state, best = saved["state"], saved["best_adapter"]
        resumed_from = state["step"]
    elif resume is False:
        shutil.rmtree(out / CHECKPOINT, ignore_errors=True)

    speed: dict[str, float | None] = {"eta_s": None, "examples_per_s": None}

    def progress(**kw: Any) -> None:
        if on_progress:
            on_progress({"step": state["step"], "total_steps": total, "epoch": state["step"] / steps_per_epoch,
                         "loss": state["losses"][-1]["loss"] if state["losses"] else None,
                         "val_loss": state["evals"][-1]["val_loss"] if state["evals"] else None, **speed, **kw})

    def run_eval() -> None:
        nonlocal best
        vl = evaluate_loss(model, val_enc, pad_id, config.eval_batch_size)
        epoch = state["step"] / steps_per_epoch
        state["evals"].append({"step": state["step"], "epoch": epoch, "val_loss": vl})
        if state["best_val_loss"] is None or vl < state["best_val_loss"]:
            state.update(best_val_loss=vl, best_step=state["step"], best_epoch=epoch, bad_evals=0)
            best = _trainable(model)
        else:
            state["bad_evals"] += 1
            if config.early_stopping_patience and state["bad_evals"] >= config.early_stopping_patience:
                state["stopped_early"] = True
        progress(phase="eval")

    def checkpoint() -> None:
        _save_checkpoint(out, model, opt, sched, state, best)

    out.mkdir(parents=True, exist_ok=True)
    model.train()
    t_train, seen, start_step, cancelled = time.perf_counter(), 0, state["step"], False
    while state["step"] < total and not state["stopped_early"]:
        epoch = state["step"] // steps_per_epoch
        order = torch.randperm(len(train_enc), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
        batches = [order[i:i + bs].tolist() for i in range(0, len(order), bs)]
        for s in range(state["step"] - epoch * steps_per_epoch, steps_per_epoch):
            if should_stop is not None and should_stop():
                cancelled = True
                break
            micro = [_collate([train_enc[j] for j in b], pad_id) for b in batches[s * ga:(s + 1) * ga]]
            n_tok = sum(int((m["labels"][:, 1:] != -100).sum()) for m in micro)
            step_loss = 0.0
            for m in micro:  # token-weighted mean over the whole accumulated batch
                loss, _ = _loss_sum(model, m)
                (loss / max(n_tok, 1)).backward()
                step_loss += loss.item() / max(n_tok, 1)
                seen += len(m["input_ids"])
            if config.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            lr = sched.get_last_lr()[0]  # the rate this step used
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            state["step"] += 1
            state["losses"].append({"step": state["step"], "loss": step_loss, "lr": lr})
            elapsed = time.perf_counter() - t_train
            done = state["step"] - start_step
            speed.update(eta_s=elapsed / done * (total - state["step"]), examples_per_s=seen / elapsed)
            progress(phase="train")
            last = state["step"] >= total
            if (isinstance(config.eval_every, int) and state["step"] % config.eval_every == 0) or \
                    (config.eval_every == "epoch" and s == steps_per_epoch - 1) or last:
                run_eval()
            if last or state["stopped_early"] or s == steps_per_epoch - 1 or \
                    (config.checkpoint_every and state["step"] % config.checkpoint_every == 0):
                checkpoint()
            if last or state["stopped_early"]:
                break
        if cancelled:
            checkpoint()
            break
    train_s = time.perf_counter() - t_train

    if not cancelled and state["step"] > 0 and (not state["evals"] or state["evals"][-1]["step"] != state["step"]):
        run_eval()  # only when resumed from a checkpoint written before its evaluation
    metrics: dict[str, Any] = {
        "status": "cancelled" if cancelled else "succeeded", "steps": state["step"], "total_steps": total,
        "steps_per_epoch": steps_per_epoch, "train_examples": len(train_enc), "val_examples": len(val_enc),
        "truncated_examples": sum(r["truncated"] for r in train_enc + val_enc),
        "losses": state["losses"], "evals": state["evals"], "best_val_loss": state["best_val_loss"],
        "best_step": state["best_step"], "best_epoch": state["best_epoch"], "stopped_early": state["stopped_early"],
        "resumed_from_step": resumed_from, "train_time_s": train_s,
        "examples_per_s": seen / train_s if seen and train_s > 0 else None,
    }
    val_acc = None
    if not cancelled:
        if best is not None:
            _load_trainable(model, best)
        if config.eval_generate:
            progress(phase="generate")
            t_gen = time.perf_counter()
            longest = max(len(tokenizer(r["target"], add_special_tokens=False)["input_ids"]) for r in val_enc)
            preds = generate(model, tokenizer, [r["prompt"] for r in val_enc],
                             min(config.max_new_tokens, longest + 4), config.eval_batch_size)
            scores = classification_scores([(r["target"], p) for r, p in zip(val_enc, preds)])
            val_acc = scores["accuracy"]
            metrics.update(val_accuracy=val_acc, per_label=scores["per_label"],
                           generate_time_s=time.perf_counter() - t_gen,
                           val_predictions=[{"expected": r["target"], "predicted": p} for r, p in zip(val_enc, preds)])
        model.save_pretrained(str(out), save_embedding_layers=False)
        (out / "training_config.json").write_text(json.dumps(config.to_dict(), indent=2))
    metrics.update(wall_time_s=time.perf_counter() - t_start, peak_rss_mb=_peak_rss_mb())
    tmp = out / "metrics.json.tmp"
    tmp.write_text(json.dumps(metrics, indent=1))
    tmp.replace(out / "metrics.json")
    progress(phase="cancelled" if cancelled else "done", val_accuracy=val_acc)
    return TrainResult(status=metrics["status"], out_dir=out, steps=state["step"], total_steps=total,
                       best_step=state["best_step"], best_epoch=state["best_epoch"],
                       best_val_loss=state["best_val_loss"], stopped_early=state["stopped_early"],
                       resumed_from_step=resumed_from, val_accuracy=val_acc, metrics=metrics,
                       model=model, tokenizer=tokenizer)


def _stratified_folds(examples: list[Example], k: int, seed: int) -> list[list[int]]:
    order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(seed)).tolist()
    order.sort(key=lambda i: examples[i]["messages"][-1]["content"].strip())  # stable: shuffled within a label
    folds: list[list[int]] = [[] for _ in range(k)]
    for pos, i in enumerate(order):
        folds[pos % k].append(i)
    return folds


def train_folds(config: TrainConfig | dict, examples: Any, k: int | None = None, *,
                out_dir: str | os.PathLike | None = None, model: Any = None, tokenizer: Any = None,
                on_progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> FoldsResult:
    """K-fold cross-validation: train K adapters (``<out>/fold-<i>``), each validated on its held-out
    fold (stratified by target), and return per-fold scores with their mean and spread (sample std).
    The base model is loaded once and restored between folds."""
    import tempfile

    config = config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)
    k = k or config.folds
    data = _examples(examples, "cross-validation")
    if k < 2 or len(data) < 2 * k:
        raise ConfigError(f"{k}-fold cross-validation needs k >= 2 and at least {2 * k} examples (got {len(data)})")
    if model is None:
        model, tokenizer = load_base(config.base)
    tmp = None
    if out_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="promptops-folds-")
        out_dir = tmp.name
    results: list[TrainResult] = []
    try:
        for i, held in enumerate(_stratified_folds(data, k, config.seed)):
            held_set = set(held)
            fold_cb = (lambda d, i=i: on_progress({**d, "fold": i + 1, "folds": k})) if on_progress else None
            res = train(config, [e for j, e in enumerate(data) if j not in held_set], [data[j] for j in held],
                        Path(out_dir) / f"fold-{i + 1}", model=model, tokenizer=tokenizer,
                        on_progress=fold_cb, should_stop=should_stop)
            model = res.model.unload()  # the base without LoRA layers, for the next fold
            res.model = None
            results.append(res)
            if res.status == "cancelled":
                break
    finally:
        if tmp is not None:
            tmp.cleanup()
    use_acc = config.eval_generate
    done = [r for r in results if r.status == "succeeded"]  # a cancelled fold has no score
    scores = [r.val_accuracy if use_acc else -r.best_val_loss for r in done]
    fr = FoldsResult(metric="accuracy" if use_acc else "neg_val_loss", scores=scores,
                     mean=statistics.fmean(scores) if scores else math.nan,
                     std=statistics.stdev(scores) if len(scores) > 1 else 0.0, cancelled=len(done) < k,
                     val_losses=[r.best_val_loss for r in done], folds=results)
    if tmp is None:
        (Path(out_dir) / "folds.json").write_text(json.dumps(
            {"metric": fr.metric, "scores": fr.scores, "mean": fr.mean, "std": fr.std,
             "val_losses": fr.val_losses, "k": k, "cancelled": fr.cancelled}, indent=1))
    return fr
