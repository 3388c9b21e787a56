"""Benchmark: zero-shot vs LoRA on snips intents with the embedded SmolLM2-135M-Instruct, on the CPU.

Train on N examples per intent from snips' train files, validate (loss, early stopping) on a few
more from train, and test on M held-out utterances per intent from the validate files. The base
model is scored zero-shot with the same prompt first (batched greedy), then the LoRA adapter.

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True \
        .venv/bin/python bench/bench_lora_snips.py --epochs 2 --out bench/out/lora_snips

Data: /work/shared/data/snips (sonos/nlu-benchmark, CC0; Coucke et al. 2018), or --data.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from promptops.finetune import TrainConfig  # noqa: E402

DATA = Path(os.environ.get("PROMPTOPS_SNIPS", "/work/shared/data/snips"))


def read_intent(folder: Path, intent: str, split: str) -> list[str]:
    raw = (folder / intent / f"{split}_{intent}.json").read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # some snips files are latin-1
        text = raw.decode("latin-1")
    return [" ".join("".join(c["text"] for c in row["data"]).split()) for row in json.loads(text)[intent]]


def system_prompt(intents: list[str]) -> str:
    return ("Classify the user's request into exactly one of these intents: " + ", ".join(intents)
            + ". Answer with the intent name only.")


def chat(system: str, text: str, label: str | None = None) -> dict:
    msgs = [{"role": "system", "content": system}, {"role": "user", "content": text}]
    if label is not None:
        msgs.append({"role": "assistant", "content": label})
    return {"messages": msgs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--per-intent", type=int, default=50, help="training examples per intent")
    ap.add_argument("--val-per-intent", type=int, default=5, help="validation (loss) examples per intent, from train")
    ap.add_argument("--test-per-intent", type=int, default=20, help="held-out test cases per intent, from validate")
    ap.add_argument("--out", type=Path, default=Path("bench/out/lora_snips"))
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="any TrainConfig field, e.g. --set learning_rate=5e-4 (repeatable)")
    for name in ("epochs", "learning_rate", "lora_r", "batch_size"):
        ap.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=TrainConfig.help()[name])
    args = ap.parse_args()

    overrides = {k: v for k in ("epochs", "learning_rate", "lora_r", "batch_size") if (v := getattr(args, k))}
    overrides.update(dict(s.split("=", 1) for s in args.set))
    config = TrainConfig.from_dict({"epochs": 2, **overrides})

    intents = sorted(p.name for p in args.data.iterdir() if p.is_dir())
    system = system_prompt(intents)
    rng = random.Random(0)
    train, val, test = [], [], []
    for intent in intents:
        rows = read_intent(args.data, intent, "train")
        rng.shuffle(rows)
        train += [chat(system, t, intent) for t in rows[:args.per_intent]]
        val += [chat(system, t, intent) for t in rows[args.per_intent:args.per_intent + args.val_per_intent]]
        held = read_intent(args.data, intent, "validate")
        rng.shuffle(held)
        test += [chat(system, t, intent) for t in held[:args.test_per_intent]]
    rng.shuffle(train)

    from promptops.finetune import trainer

    t0 = time.perf_counter()
    model, tok = trainer.load_base(config.base)
    load_s = time.perf_counter() - t0
    prompts = [ex["messages"][:-1] for ex in test]
    gold = [ex["messages"][-1]["content"] for ex in test]

    def score(m) -> tuple[dict, float]:
        t = time.perf_counter()
        preds = trainer.generate(m, tok, prompts, max_new_tokens=10, batch_size=config.eval_batch_size)
        s = trainer.classification_scores(list(zip(gold, preds)))
        s["contains"] = sum(g.lower() in p.lower() for g, p in zip(gold, preds)) / len(gold)
        s["examples"] = [{"expected": g, "predicted": p} for g, p in list(zip(gold, preds))[::20]]
        return s, time.perf_counter() - t

    base_scores, base_s = (None, 0.0) if args.skip_baseline else score(model)
    if base_scores:
        print(f"zero-shot: accuracy {base_scores['accuracy']:.1%} (answer contains the label "
              f"{base_scores['contains']:.1%}), {len(test)} cases in {base_s:.1f} s", flush=True)

    def progress(d: dict) -> None:
        if d.get("phase") in ("train", "eval") and (d["phase"] == "eval" or d["step"] % 10 == 0):
            print(f"  step {d['step']}/{d['total_steps']} epoch {d['epoch']:.2f} loss {d['loss']:.3f} "
                  f"val {d['val_loss'] if d['val_loss'] is None else round(d['val_loss'], 3)} "
                  f"eta {d.get('eta_s', 0):.0f}s", flush=True)

    res = trainer.train(config, train, val, args.out, model=model, tokenizer=tok, resume=False,
                        on_progress=progress)
    lora_scores, lora_s = score(res.model)
    result = {
        "config": config.to_dict(), "intents": intents, "train": len(train), "val": len(val), "test": len(test),
        "load_s": load_s, "zero_shot": base_scores, "zero_shot_s": base_s, "lora": lora_scores, "lora_eval_s": lora_s,
        "train_time_s": res.metrics["train_time_s"], "train_wall_s": res.metrics["wall_time_s"],
        "examples_per_s": res.metrics["examples_per_s"], "steps": res.steps, "best_epoch": res.best_epoch,
        "evals": res.metrics["evals"], "peak_rss_mb": res.metrics["peak_rss_mb"], "val_accuracy": res.val_accuracy,
    }
    (args.out / "bench.json").write_text(json.dumps(result, indent=1))
    print(f"LoRA: test accuracy {lora_scores['accuracy']:.1%} on {len(test)} held-out cases; "
          f"training {res.metrics['train_time_s']:.0f} s ({res.steps} steps, "
          f"{res.metrics['examples_per_s']:.1f} examples/s), best epoch {res.best_epoch}, "
          f"peak RSS {res.metrics['peak_rss_mb']:.0f} MB")
    for label, s in lora_scores["per_label"].items():
        print(f"  {label:22s} P {s['precision']:.2f}  R {s['recall']:.2f}  n {s['support']}")
    print(f"results: {args.out / 'bench.json'}")


if __name__ == "__main__":
    main()
