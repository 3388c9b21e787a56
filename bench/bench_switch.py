"""Benchmark: the switch on three datasets — best hand prompt, optimized prompt, fine-tuned model.

For each dataset a scratch project (its own git repository) gets a regression suite (held-out test
cases), a training file (suite format, disjoint from the suite) and two hand-written versions of a
classification prompt (zero-shot naming the labels; one example per label). Then, through the
library as ``promptops`` runs it:

1. both hand versions are scored on the suite; the better is "best hand prompt";
2. ``optimize`` searches candidates on a validation split of the training file (never the suite),
   writes the best, which is committed and scored on the suite;
3. a LoRA job trains on the training file rendered with the zero-shot version (``finetune``), and
   the adapter ``local/smollm2+<job>`` is scored on the suite with that version.

Each row: accuracy [95% Wilson CI], the exact McNemar test against the row before (paired on the
suite cases), p50 latency and tokens per call, and the time and compute it took to deliver.

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True \\
        .venv/bin/python bench/bench_switch.py snips sst2 banking77 --out bench/out/switch

banking77 is the held-out dataset: no setting of promptops (optimize's grid, the trainer's
defaults, the demo) was chosen while looking at it. Data: /work/shared/data (see its SOURCES.md).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TQDM_DISABLE", "1")

DATA = Path(os.environ.get("PROMPTOPS_DATA", "/work/shared/data"))
MODEL = "local/smollm2"
# 10 of banking77's 77 intents (the first 10 of categories.json in order): a label set a 135M model can hold
BANKING_INTENTS = 10


def snips(train_n: int, test_n: int, rng: random.Random) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    labels = sorted(p.name for p in (DATA / "snips").iterdir() if p.is_dir())
    train, test = [], []
    for label in labels:
        def read(split: str) -> list[str]:
            raw = (DATA / "snips" / label / f"{split}_{label}.json").read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            return [" ".join("".join(c["text"] for c in row["data"]).split()) for row in json.loads(text)[label]]
        tr, te = read("train"), read("validate")
        rng.shuffle(tr)
        rng.shuffle(te)
        train += [(t, label) for t in tr[:train_n]]
        test += [(t, label) for t in te[:test_n]]
    return labels, train, test


def sst2(train_n: int, test_n: int, rng: random.Random):
    names = {"0": "negative", "1": "positive"}

    def read(split: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {"negative": [], "positive": []}
        for line in (DATA / "sst2" / f"stsa.binary.{split}").read_text(encoding="utf-8").splitlines():
            if line.strip():
                label, text = line.split(" ", 1)
                out[names[label]].append(text.strip())
        return out
    tr, te = read("train"), read("test")
    train, test = [], []
    for label in ("negative", "positive"):
        rng.shuffle(tr[label])
        rng.shuffle(te[label])
        train += [(t, label) for t in tr[label][:train_n]]
        test += [(t, label) for t in te[label][:test_n]]
    return ["negative", "positive"], train, test


def banking77(train_n: int, test_n: int, rng: random.Random):
    labels = json.loads((DATA / "banking77" / "categories.json").read_text())[:BANKING_INTENTS]

    def read(split: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {label: [] for label in labels}
        with open(DATA / "banking77" / f"{split}.csv", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                if row["category"] in out:
                    out[row["category"]].append(row["text"].strip())
        return out
    tr, te = read("train"), read("test")
    train, test = [], []
    for label in labels:
        rng.shuffle(tr[label])
        rng.shuffle(te[label])
        train += [(t, label) for t in tr[label][:train_n]]
        test += [(t, label) for t in te[label][:test_n]]
    return labels, train, test


# per dataset: loader, training examples per label, test cases per label, what the input is
DATASETS = {
    "snips": (snips, 40, 20, "a voice-assistant request", "intent"),
    "sst2": (sst2, 140, 50, "a movie review sentence", "sentiment"),
    "banking77": (banking77, 28, 10, "a banking customer's message", "intent"),
}


def front(name: str, labels: list[str]) -> str:
    return (f"---\nname: {name}\nmodel: {MODEL}\nparams: {{temperature: 0, max_tokens: 12}}\ninput:\n  text: string\n"
            f"suite: datasets/{name}\ntarget: 0.8\nlabels: [{', '.join(labels)}]\n"
            "assert:\n  - type: iequals\n    value: \"{{ expected }}\"\n---\n")


def hand_versions(name: str, labels: list[str], what: str, kind: str, train: list[tuple[str, str]]) -> list[tuple[str, str]]:
    listed = ", ".join(labels)
    zero = (f"system:\nClassify {what} into exactly one {kind}: {listed}.\nAnswer with the {kind} name only.\n"
            "user:\n{{ text }}\n")
    first = {}
    for text, label in train:
        first.setdefault(label, text)
    shots = "".join(f"user:\n{first[label]}\nassistant:\n{label}\n" for label in labels)
    few = (f"system:\nClassify {what} into exactly one {kind}: {listed}.\nAnswer with the {kind} name only.\n"
           + shots + "user:\n{{ text }}\n")
    return [("hand: zero-shot, the labels listed", front(name, labels) + zero),
            ("hand: one example per label", front(name, labels) + few)]


def build(root: Path, name: str, labels, train, test, what, kind) -> tuple[list[str], Any]:
    import git

    root.mkdir(parents=True)
    (root / "promptops.yaml").write_text(f"default_model: {MODEL}\nconcurrency: 64\n", encoding="utf-8")
    (root / ".gitignore").write_text(".promptops/\n", encoding="utf-8")
    suite = root / "datasets" / name
    suite.mkdir(parents=True)
    suite.joinpath("cases.jsonl").write_text("".join(json.dumps({"vars": {"text": t}, "expected": y}) + "\n"
                                                     for t, y in test), encoding="utf-8")
    (root / "datasets" / f"{name}.train.jsonl").write_text(
        "".join(json.dumps({"vars": {"text": t}, "expected": y}) + "\n" for t, y in train), encoding="utf-8")
    (root / "prompts").mkdir()
    repo = git.Repo.init(root, initial_branch="main")
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "bench")
        cw.set_value("user", "email", "bench@promptops.invalid")
    shas = []
    for message, text in hand_versions(name, labels, what, kind, train):
        (root / "prompts" / f"{name}.prompt").write_text(text, encoding="utf-8")
        repo.git.add(A=True)
        repo.index.commit(message)
        shas.append(repo.head.commit.hexsha)
    return shas, repo


def row(summary, seconds: float, **extra) -> dict:
    calls = summary.total or 1
    return {"version": summary.version, "model": summary.model, "accuracy": summary.accuracy,
            "ci_low": summary.ci_low, "ci_high": summary.ci_high, "cases": summary.total,
            "latency_p50_ms": summary.latency_p50_ms,
            "tokens_per_call": round((summary.prompt_tokens + summary.completion_tokens) / calls, 1),
            "eval_s": round(seconds, 1), **extra}


def run_dataset(key: str, out: Path, epochs: int, seed: int, smoke: bool = False) -> dict:
    from promptops.config import load_config
    from promptops.escalate.compare import compare_specs
    from promptops.eval.evaluate import evaluate
    from promptops.finetune import TrainConfig, jobs
    from promptops.optimize.search import optimize
    from promptops.project import using

    loader, train_n, test_n, what, kind = DATASETS[key]
    if smoke:  # a check that the script runs end to end, not a measurement
        train_n, test_n = 6, 2
    labels, train, test = loader(train_n, test_n, random.Random(seed))
    name = f"{key}-cls"
    root = out / key
    if root.exists():
        import shutil
        shutil.rmtree(root)
    shas, repo = build(root, name, labels, train, test, what, kind)
    config = load_config(root)
    print(f"== {key}: {len(labels)} labels, {len(train)} training examples, {len(test)} suite cases", flush=True)

    hand = []
    for sha in shas:
        t = time.perf_counter()
        s = evaluate(config, [f"{name}@{sha}"], source="bench", branch="main").summaries[0]
        hand.append((sha, row(s, time.perf_counter() - t, commit=sha)))
        print(f"  hand {s.version}: {s.accuracy:.1%}", flush=True)
    best_sha, best = max(hand, key=lambda h: h[1]["accuracy"])
    best["deliver"] = "hand edits"

    t = time.perf_counter()
    result = optimize(config, f"{name}@{best_sha}", f"datasets/{name}.train.jsonl", models=[MODEL], seed=seed,
                      ks=(4, 8), val_fraction=0.2)
    opt_s = time.perf_counter() - t
    print(f"  optimize: best {result.best.name} {result.best.accuracy:.1%} on {result.val} validation cases, "
          f"{result.calls} calls, {opt_s:.0f} s", flush=True)
    optimized = None
    if result.written:
        repo.git.add(A=True)
        repo.index.commit(f"optimized: {result.best.name}")
        opt_sha = repo.head.commit.hexsha
        t = time.perf_counter()
        s = evaluate(config, [f"{name}@{opt_sha}"], source="bench", branch="main").summaries[0]
        optimized = row(s, time.perf_counter() - t, commit=opt_sha, candidate=result.best.name,
                        deliver=f"search {opt_s:.0f} s, {result.calls} calls, {result.tokens:,} tokens")
        print(f"  optimized {s.version}: {s.accuracy:.1%}", flush=True)

    # the fine-tuning set: the training file rendered with the zero-shot version, 10% held out for validation loss
    with using(config) as project:
        zero = project.history.resolve(f"{name}@{shas[0]}").prompt
    chat = [{"messages": [*zero.render({"text": t}), {"role": "assistant", "content": y}]} for t, y in train]
    random.Random(seed).shuffle(chat)
    n_val = max(7, len(chat) // 10)
    ft_dir = root / "datasets" / "finetune"
    ft_dir.mkdir(parents=True)
    (ft_dir / "train.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chat[n_val:]), encoding="utf-8")
    (ft_dir / "val.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chat[:n_val]), encoding="utf-8")
    tc = TrainConfig.from_dict({"epochs": epochs, "batch_size": 8, "lora_r": 16, "learning_rate": 1e-3,
                                **({"max_steps": 2, "eval_generate": False} if smoke else {})})
    t = time.perf_counter()
    job = jobs.create(config, name, ft_dir, tc)
    job = jobs.wait(config, job.id, poll_s=5)
    job_s = time.perf_counter() - t
    if job.status != "succeeded":
        raise SystemExit(f"{key}: job {job.id} {job.status}: {job.error}")
    model = job.metrics["model"]
    t = time.perf_counter()
    s = evaluate(config, [f"{name}@{shas[0]}"], models=[model], source="bench", branch="main").summaries[0]
    tuned = row(s, time.perf_counter() - t, commit=shas[0], job=job.id,
                deliver=f"train {job.metrics.get('train_time_s', 0):.0f} s, job {job_s:.0f} s, "
                        f"{job.metrics.get('steps')} steps, peak RSS {job.metrics.get('peak_rss_mb', 0):.0f} MB")
    print(f"  fine-tuned {model}: {s.accuracy:.1%}", flush=True)

    rows = [("best hand prompt", best), ("optimized prompt", optimized), ("fine-tuned (LoRA)", tuned)]
    rows = [(label, r) for label, r in rows if r is not None]
    with using(config) as project:
        for (_, before), (_, after) in zip(rows, rows[1:]):
            cmp = compare_specs(project, f"{name}@{before['commit']}/{before['model']}",
                                f"{name}@{after['commit']}/{after['model']}", run_missing=False)
            after["paired"] = cmp["paired"]
    return {"dataset": key, "labels": labels, "train": len(train), "suite": len(test),
            "hand": [h[1] for h in hand], "rows": [{"row": label, **r} for label, r in rows],
            "optimize": result.to_dict(), "job": {"id": job.id, "metrics": job.metrics}}


def markdown(results: list[dict]) -> str:
    lines = ["| dataset | row | accuracy [95% CI] | paired vs row above | p50 latency / call | tokens / call | "
             "to deliver |", "|---|---|---|---|---|---|---|"]
    for res in results:
        for r in res["rows"]:
            d = r.get("paired")
            paired = "–" if not d else f"{100 * d['delta']:+.1f} pts, p {d['mcnemar_p']:.2g}"
            lat = "–" if r["latency_p50_ms"] is None else f"{r['latency_p50_ms']:,.0f} ms"
            lines.append(f"| {res['dataset']} ({len(res['labels'])} labels, {res['suite']} cases) | {r['row']} "
                         f"({r.get('candidate') or r['version']}) | {100 * r['accuracy']:.1f}% "
                         f"[{100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}] | {paired} | {lat} | "
                         f"{r['tokens_per_call']} | {r['deliver']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    ap.add_argument("--out", type=Path, default=Path("bench/out/switch"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and 2 training steps: checks the script runs")
    args = ap.parse_args()
    args.out = args.out.resolve()
    results = []
    for key in args.datasets:
        results.append(run_dataset(key, args.out, args.epochs, args.seed, args.smoke))
        (args.out / "switch.json").write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
        print(markdown(results), flush=True)


if __name__ == "__main__":
    main()
