"""Benchmark: one LoRA job trained by 1 process against 2 data-parallel processes (accelerate launch, gloo, CPU).

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True PYTHONPATH=. .venv/bin/python bench/bench_ddp.py \
        [--runs 1] [--steps 4] [--out bench/out/ddp.json]

One project, the same job (the embedded SmolLM2, ``--steps`` LoRA steps of 4 examples, r 4, no dropout,
no generation) run ``--runs`` times in three shapes, in turn, through the local backend: one process
with torch's default threads (all cores), one process with one thread (``OMP_NUM_THREADS=1``), and
two data-parallel processes (``processes: 2``, cores / 2 threads each). Per run, from the job
record: seconds per optimizer step (``train_time_s / steps``: the loop, with the one validation at
the end), the time from ``jobs.create`` to succeeded (model loading included: each rank loads the
base), rank 0's peak RSS, and how far the 2-process loss curve is from the 1-process one (the same
batches, so the same gradient).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


SHAPES = {"1 process": (1, None), "1 process, 1 thread": (1, "1"), "2 processes": (2, None)}


def one(config, data: Path, steps: int, processes: int, threads: str | None) -> dict:
    from promptops.finetune import jobs

    tc = {"max_steps": steps, "batch_size": 4, "lora_r": 4, "lora_dropout": 0.0, "eval_generate": False,
          "learning_rate": 3e-3}
    os.environ.pop("OMP_NUM_THREADS", None)
    if threads:
        os.environ["OMP_NUM_THREADS"] = threads  # the worker inherits it
    t0 = time.perf_counter()
    job = jobs.create(config, "bench", data, tc, resources={"processes": processes} if processes > 1 else None)
    os.environ.pop("OMP_NUM_THREADS", None)
    done = jobs.wait(config, job.id, poll_s=0.5, timeout_s=1800)
    total = time.perf_counter() - t0
    assert done.status == "succeeded", done.error
    m = done.metrics
    return {"s_per_step": round(m["train_time_s"] / m["steps"], 3), "total_s": round(total, 1),
            "peak_rss_mb_rank0": round(m["peak_rss_mb"]), "world_size": m["world_size"],
            "losses": [round(x["loss"], 6) for x in m["losses"]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--out", default="bench/out/ddp.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.pop("PROMPTOPS_JOB_TRAINER", None)
    from promptops.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        (root / "prompts").mkdir(parents=True)
        (root / "promptops.yaml").write_text("default_model: local/smollm2\n")
        os.environ["PROMPTOPS_ROOT"] = str(root)
        data = root / "data"
        data.mkdir()
        labels = ["Blue", "Red"]
        rows = [{"messages": [{"role": "system", "content": "Answer with the label."},
                              {"role": "user", "content": f"item {i}"},
                              {"role": "assistant", "content": labels[i % 2]}]} for i in range(4 * args.steps + 2)]
        (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:-2]))
        (data / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[-2:]))
        config = load_config(root)
        results: dict[str, list[dict]] = {name: [] for name in SHAPES}
        for _ in range(args.runs):
            for name, (n, threads) in SHAPES.items():
                results[name].append(one(config, data, args.steps, n, threads))
                print(name, {k: v for k, v in results[name][-1].items() if k != "losses"}, flush=True)
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("s_per_step", "total_s", "peak_rss_mb_rank0")}
           for n, rs in results.items()}
    diff = max(abs(a - b) / max(abs(a), 1e-9) for r1, r2 in zip(results["1 process"], results["2 processes"])
               for a, b in zip(r1["losses"], r2["losses"]))
    print(f"{'':26}" + "".join(f"{name:>22}" for name in SHAPES))
    for k in ("s_per_step", "total_s", "peak_rss_mb_rank0"):
        print(f"{k + ' (median)':26}" + "".join(f"{med[name][k]:>22.2f}" for name in SHAPES))
    print(f"largest relative loss difference, 2 processes vs 1: {diff:.2e}; load average {os.getloadavg()}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"runs": results, "median": med,
                                          "loss_rel_diff_max": diff, "steps": args.steps, "cpus": os.cpu_count(),
                                          "load_avg": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
