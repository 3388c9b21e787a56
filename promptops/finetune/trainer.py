"""LoRA trainer: a plain PyTorch loop over chat JSONL, the only module that trains with torch/peft.

``train(config, train_data, val_data, out_dir)`` wraps the base model with a peft LoRA adapter,
trains it with AdamW, a warm-up schedule and gradient accumulation, computes the loss on the final
assistant turn only, evaluates validation loss every epoch (or every N steps), stops early and keeps
the best adapter, checkpoints everything needed to resume (adapter, optimizer, scheduler, step, RNG),
and finally generates greedily on the validation prompts for accuracy and per-label
precision/recall. ``<out>`` then holds ``adapter_model.safetensors`` + ``adapter_config.json``
(load with ``PeftModel.from_pretrained``), ``training_config.json`` and ``metrics.json``.

The run is a :class:`LoraTrainer`; its progress is a :class:`~promptops.finetune.state.TrainerState`
and the loop's side duties are callbacks (:mod:`promptops.finetune.callbacks`). torch, transformers
and peft are imported on first use (:func:`require`), so importing this module is cheap.
"""

from __future__ import annotations

import json
import math
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .. import localmodels
from .._util.fs import atomic_write
from ..errors import ConfigError, ModelError
from ..eval.stats import classification_report
from ..providers import LOCAL
from . import distributed
from .callbacks import Checkpointer, EarlyStopping, Progress, ProgressReporter, TrainerCallback
from .config import TrainConfig
from .device import autocast, place
from .data import (IGNORE, collate, encode_all, epoch_batches, load_examples, split_validation, stratified_folds,
                   truncated_count)
from .modeling import evaluate_loss, generate, loss_sum, require
from .state import (TrainerState, adapter_weights, drop_checkpoint, find_checkpoint, fingerprint,
                    load_adapter_weights, read_checkpoint, save_checkpoint)


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
    torch = require()
    try:
        model, tokenizer = localmodels.load(LOCAL.strip(base), dtype=torch.float32)
    except ModelError:
        raise
    except Exception as exc:  # transformers raises many kinds; give one line with the cause
        raise ModelError(f"cannot load base model {base!r}: {exc}") from exc
    prepare_tokenizer(tokenizer)
    return model, tokenizer


def prepare_tokenizer(tokenizer: Any) -> Any:
    localmodels.set_pad_token(tokenizer)
    if not getattr(tokenizer, "chat_template", None):
        raise ModelError("the tokenizer has no chat template", hint="fine-tune a chat (instruct) model")
    return tokenizer


# -- scores --------------------------------------------------------------------------------------
def classification_scores(pairs: Sequence[tuple[str, str]], max_labels: int = 100) -> dict[str, Any]:
    """Accuracy of exact matches, and precision/recall per label (labels = the set of targets,
    sorted; ``per_label`` stays empty past ``max_labels`` of them)."""
    labels = sorted({e for e, _ in pairs})
    if len(labels) > max_labels:  # free-text targets: a confusion matrix would have labels² cells
        return {"accuracy": sum(e == p for e, p in pairs) / len(pairs), "n": len(pairs), "per_label": {}}
    report = classification_report(pairs, labels=labels)
    per_label = {lab: {"precision": row["precision"], "recall": row["recall"], "support": row["support"],
                       "predicted": sum(r[lab] for r in report["confusion"].values())}
                 for lab, row in report["per_label"].items()}
    return {"accuracy": report["accuracy"] if pairs else None, "n": len(pairs), "per_label": per_label}


# -- training --------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _as_config(config: TrainConfig | dict) -> TrainConfig:
    return config if isinstance(config, TrainConfig) else TrainConfig.from_dict(config)


def default_callbacks(config: TrainConfig, on_progress: Progress | None = None) -> list[TrainerCallback]:
    """Early stopping, progress reports (with ``on_progress``) and checkpoints, in the order they run."""
    return [EarlyStopping(config.early_stopping_patience), *([ProgressReporter(on_progress)] if on_progress else []),
            Checkpointer(config.checkpoint_every)]


class LoraTrainer:
    """One LoRA training run: the encoded data, the model with a fresh adapter, its optimizer and
    schedule, and the loop. Construction reads and checks the data, loads the base (unless
    ``model`` and ``tokenizer`` are given) and wraps it; :meth:`restore` picks up a checkpoint;
    :meth:`fit` trains and writes the adapter. :func:`train` does all three."""

    def __init__(self, config: TrainConfig | dict, train_data: Any, val_data: Any = None,
                 out_dir: str | os.PathLike = ".", *, model: Any = None, tokenizer: Any = None,
                 callbacks: Sequence[TrainerCallback] = ()):
        self.t_start = time.perf_counter()
        torch = require()
        self.dist = distributed.current()  # world 1 unless the worker runs under accelerate launch
        self.config = c = _as_config(config)
        self.out = Path(out_dir)
        train_ex, val_ex = _train_and_val(c, train_data, val_data)
        if model is None:
            model, tokenizer = load_base(c.base)
        elif tokenizer is None:
            raise ConfigError("a passed-in model needs its tokenizer")
        self.tokenizer = prepare_tokenizer(tokenizer)
        self.pad_id = tokenizer.pad_token_id
        self.train_enc, self.val_enc, self.lengths = encode_all(tokenizer, train_ex, val_ex, c.max_length)
        self.model, self.device, self.dtype = place(_with_lora(model, c), c)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # fp16 compute needs loss scaling (small gradients underflow in float16); bf16 and fp32 do not
        self.scaler = torch.amp.GradScaler(self.device) if self.dtype == torch.float16 else None
        self.optimizer = torch.optim.AdamW(self.params, lr=c.learning_rate, weight_decay=c.weight_decay)
        self.steps_per_epoch = math.ceil(math.ceil(len(self.train_enc) / c.batch_size) / c.grad_accum)
        self.total_steps = c.epochs * self.steps_per_epoch
        if c.max_steps:
            self.total_steps = min(self.total_steps, c.max_steps)
        self.scheduler = _scheduler(c, self.optimizer, self.total_steps)
        self.state = TrainerState(fingerprint=fingerprint(c, self.train_enc, self.val_enc),
                                  total_steps=self.total_steps)
        self.best_adapter: dict | None = None
        self.resumed_from: int | None = None
        self.callbacks = list(callbacks)
        self.t_train, self.start_step, self.examples_seen = 0.0, 0, 0

    def restore(self, resume: bool | None = True) -> None:
        """With ``resume``, continue from the checkpoint under the output folder, if there is one (a
        ConfigError if it was made with other settings or data); ``resume=False`` deletes it."""
        ckpt = find_checkpoint(self.out) if resume else None
        if ckpt is not None:
            import torch

            saved = read_checkpoint(ckpt)
            if saved["state"].fingerprint != self.state.fingerprint:
                raise ConfigError("the checkpoint was made with another config or dataset", where=str(ckpt.parent),
                                  hint="use the same settings and data, resume=False, or another output folder")
            load_adapter_weights(self.model, saved["adapter"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["torch_rng"])
            self.state, self.best_adapter = saved["state"], saved["best_adapter"]
            self.resumed_from = self.state.step
        elif resume is False and self.dist.is_main:
            drop_checkpoint(self.out)

    def fit(self, should_stop: Callable[[], bool] | None = None) -> TrainResult:
        """Train to the end (or early stop, or ``should_stop()`` between steps: status cancelled,
        a checkpoint kept), then restore the best adapter, score it and save it."""
        cancelled = self._loop(should_stop)
        return self._finish(cancelled, time.perf_counter() - self.t_train)

    def evaluate(self) -> float:
        """Record the validation loss now; a new best keeps a copy of the adapter."""
        s = self.state
        val_loss = self.dist.from_main(evaluate_loss(self.model, self.val_enc, self.pad_id, self.config.eval_batch_size)
                                       if self.dist.is_main else 0.0)  # one decision for early stopping
        epoch = s.step / self.steps_per_epoch
        s.evals.append({"step": s.step, "epoch": epoch, "val_loss": val_loss})
        improved = s.best_val_loss is None or val_loss < s.best_val_loss
        if improved:
            s.best_val_loss, s.best_step, s.best_epoch = val_loss, s.step, epoch
            self.best_adapter = adapter_weights(self.model)
        self._fire("on_evaluate", improved)
        return val_loss

    def save_checkpoint(self) -> None:
        if self.dist.is_main:
            save_checkpoint(self.out, self.model, self.optimizer, self.scheduler, self.state, self.best_adapter)

    # -- the loop --------------------------------------------------------------------------
    def _fire(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def _loop(self, should_stop: Callable[[], bool] | None) -> bool:
        """Optimizer steps until the last one or early stopping; True when cancelled."""
        c, s, per_epoch = self.config, self.state, self.steps_per_epoch
        self.out.mkdir(parents=True, exist_ok=True)
        self.model.train()
        self.t_train, self.start_step, self.examples_seen = time.perf_counter(), s.step, 0
        while s.step < self.total_steps and not s.stopped_early:
            epoch = s.step // per_epoch
            batches = epoch_batches(len(self.train_enc), c.batch_size, c.seed, epoch)
            for i in range(s.step - epoch * per_epoch, per_epoch):
                if self.dist.any(should_stop is not None and should_stop()):  # all ranks stop at one step
                    self._fire("on_cancel")
                    return True
                self._step(batches[i * c.grad_accum:(i + 1) * c.grad_accum])
                epoch_end, last = i == per_epoch - 1, s.step >= self.total_steps
                self._fire("on_step")
                if (isinstance(c.eval_every, int) and s.step % c.eval_every == 0) or \
                        (c.eval_every == "epoch" and epoch_end) or last:
                    self.evaluate()
                self._fire("on_step_end", epoch_end)
                if last or s.stopped_early:
                    break
        return False

    def _step(self, micro_batches: list[list[int]]) -> None:
        """One optimizer step over ``micro_batches`` (gradient accumulation)."""
        import torch

        shards = [self.dist.shard(b) for b in micro_batches]  # this rank's share (all of it in one process)
        micro = [collate([self.train_enc[j] for j in b], self.pad_id) for b in shards if b]
        n_tok = self.dist.total(sum(int((m["labels"][:, 1:] != IGNORE).sum()) for m in micro))  # the whole step's
        step_loss, seen = 0.0, 0
        for m in micro:  # token-weighted mean over the whole accumulated batch
            with autocast(self.device, self.dtype):
                loss, _ = loss_sum(self.model, m)
            scaled = loss / max(n_tok, 1)
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
            step_loss += loss.item() / max(n_tok, 1)
            seen += len(m["input_ids"])
        step_loss, seen = self.dist.sum_gradients(self.params, step_loss, seen)  # ranks: the one-process gradient
        self.examples_seen += int(seen)
        if self.scaler:
            self.scaler.unscale_(self.optimizer)  # the summed gradients are equal on every rank: one skip decision
        if self.config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]  # the rate this step used
        if self.scaler:
            self.scaler.step(self.optimizer)  # skipped when a gradient overflowed; the scale is lowered
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state.step += 1
        self.state.losses.append({"step": self.state.step, "loss": step_loss, "lr": lr})

    def _finish(self, cancelled: bool, train_s: float) -> TrainResult:
        c, s, out = self.config, self.state, self.out
        if not cancelled and s.step > 0 and (not s.evals or s.evals[-1]["step"] != s.step):
            self.evaluate()  # only when resumed from a checkpoint written before its evaluation
        seen = self.examples_seen
        metrics: dict[str, Any] = {
            "status": "cancelled" if cancelled else "succeeded", "steps": s.step, "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch, "train_examples": len(self.train_enc),
            "val_examples": len(self.val_enc), "truncated_examples": truncated_count(self.train_enc + self.val_enc),
            "max_length": self.lengths.to_dict(),
            "losses": s.losses, "evals": s.evals, "best_val_loss": s.best_val_loss, "best_step": s.best_step,
            "best_epoch": s.best_epoch, "stopped_early": s.stopped_early, "resumed_from_step": self.resumed_from,
            "train_time_s": train_s, "examples_per_s": seen / train_s if seen and train_s > 0 else None,
        }
        val_acc = None
        if not cancelled:
            if self.best_adapter is not None:
                load_adapter_weights(self.model, self.best_adapter)
            if c.eval_generate and self.dist.is_main:
                val_acc = self._score_generations(metrics)
            if self.dist.is_main:  # rank 0 alone writes the adapter
                self.model.save_pretrained(str(out), save_embedding_layers=False)
                (out / "training_config.json").write_text(json.dumps(c.to_dict(), indent=2))
        metrics.update(wall_time_s=time.perf_counter() - self.t_start, peak_rss_mb=_peak_rss_mb(),
                       world_size=self.dist.world)
        if self.dist.is_main:
            atomic_write(out / "metrics.json", json.dumps(metrics, indent=1))
        self._fire("on_phase", "cancelled" if cancelled else "done", {"val_accuracy": val_acc})
        return TrainResult(status=metrics["status"], out_dir=out, steps=s.step, total_steps=self.total_steps,
                           best_step=s.best_step, best_epoch=s.best_epoch, best_val_loss=s.best_val_loss,
                           stopped_early=s.stopped_early, resumed_from_step=self.resumed_from, val_accuracy=val_acc,
                           metrics=metrics, model=self.model, tokenizer=self.tokenizer)

    def _score_generations(self, metrics: dict[str, Any]) -> float | None:
        """Greedy answers to the validation prompts, scored against the targets, into ``metrics``."""
        self._fire("on_phase", "generate", {})
        t_gen, tok, val = time.perf_counter(), self.tokenizer, self.val_enc
        longest = max(len(tok(r["target"], add_special_tokens=False)["input_ids"]) for r in val)
        preds = generate(self.model, tok, [r["prompt"] for r in val], min(self.config.max_new_tokens, longest + 4),
                         self.config.eval_batch_size)
        scores = classification_scores([(r["target"], p) for r, p in zip(val, preds)])
        metrics.update(val_accuracy=scores["accuracy"], per_label=scores["per_label"],
                       generate_time_s=time.perf_counter() - t_gen,
                       val_predictions=[{"expected": r["target"], "predicted": p} for r, p in zip(val, preds)])
        return scores["accuracy"]


def _train_and_val(config: TrainConfig, train_data: Any, val_data: Any) -> tuple[list[dict], list[dict]]:
    train_ex = load_examples(train_data, "training")
    val_ex = load_examples(val_data, "validation") if val_data is not None else None
    if val_ex is None:
        if len(train_ex) < 2:
            raise ConfigError(f"{len(train_ex)} training example(s): too few to hold out a validation split",
                              hint="give at least 2 examples or a validation file")
        train_ex, val_ex = split_validation(train_ex, config.val_fraction, config.seed)
    if not train_ex or not val_ex:
        raise ConfigError(f"need training and validation examples (got {len(train_ex)} and {len(val_ex)})")
    return train_ex, val_ex


def _with_lora(model: Any, config: TrainConfig) -> Any:
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)  # LoRA initialisation
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      target_modules=list(config.target_modules), bias="none", task_type="CAUSAL_LM")
    try:
        with localmodels.quiet_peft():
            model = get_peft_model(model, lora)
    except ValueError as exc:
        raise ConfigError(f"LoRA target modules {config.target_modules} do not fit the base model: {exc}",
                          hint="Llama-style models: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj") from None
    model.peft_config["default"].base_model_name_or_path = config.base
    return model


def _scheduler(config: TrainConfig, optimizer: Any, total: int) -> Any:
    from transformers import get_scheduler

    name = "constant_with_warmup" if config.lr_scheduler == "constant" else config.lr_scheduler
    return get_scheduler(name, optimizer, num_warmup_steps=round(config.warmup_ratio * total), num_training_steps=total)


# -- entry points ----------------------------------------------------------------------------------
def train(config: TrainConfig | dict, train_data: Any, val_data: Any = None, out_dir: str | os.PathLike = ".",
          *, model: Any = None, tokenizer: Any = None, resume: bool = True,
          on_progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train a LoRA adapter; see the module docstring. ``train_data``/``val_data``: JSONL paths or
    lists of ``{"messages": [...]}``; without ``val_data``, ``config.val_fraction`` is held out.
    ``model``/``tokenizer``: a loaded base to wrap (else ``config.base`` is loaded). With ``resume``,
    a checkpoint in ``out_dir`` from the same config and data is continued.
    ``should_stop()`` is checked between optimizer steps: a checkpoint is written and the result's
    status is ``"cancelled"``."""
    config = _as_config(config)
    trainer = LoraTrainer(config, train_data, val_data, out_dir, model=model, tokenizer=tokenizer,
                          callbacks=default_callbacks(config, on_progress))
    trainer.restore(resume)
    return trainer.fit(should_stop)


def train_folds(config: TrainConfig | dict, examples: Any, k: int | None = None, *,
                out_dir: str | os.PathLike | None = None, model: Any = None, tokenizer: Any = None,
                on_progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> FoldsResult:
    """K-fold cross-validation: train K adapters (``<out>/fold-<i>``), each validated on its held-out
    fold (stratified by target), and return per-fold scores with their mean and spread (sample std).
    The base model is loaded once and restored between folds."""
    config = _as_config(config)
    k = k or config.folds
    data = load_examples(examples, "cross-validation")
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
        for i, held in enumerate(stratified_folds(data, k, config.seed)):
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
