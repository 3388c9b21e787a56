"""Benchmark: one LoRA job trained by 1 process against 2 data-parallel processes (torchrun, gloo, CPU).

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True PYTHONPATH=. .venv/bin/python bench/bench_ddp.py \
        [--runs 2] [--steps 4] [--out bench/out/ddp.json]

One project, the same job (the embedded SmolLM2, ``--steps`` LoRA steps of 4 examples, r 4, no dropout,
no generation) run ``--runs`` times with ``processes`` 1 and 2, alternating, through the local backend.
Per run, from the job record: seconds per optimizer step (``train_time_s / steps``: the loop, with
the one validation at the end), the time from ``jobs.create`` to succeeded (model loading included:
each rank loads the base), rank 0's peak RSS, and how far the 2-process loss curve is from the
1-process one (the same batches, so the same gradient). Both use the machine's cores: one process
with torch's default threads, two with ``OMP_NUM_THREADS`` = cores / 2 each.
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


def one(config, data: Path, steps: int, processes: int) -> dict:
    from promptops.finetune import jobs

    tc = {"max_steps": steps, "batch_size": 4, "lora_r": 4, "lora_dropout": 0.0, "eval_generate": False,
          "learning_rate": 3e-3}
    t0 = time.perf_counter()
    job = jobs.create(config, "bench", data, tc, resources={"processes": processes} if processes > 1 else None)
    done = jobs.wait(config, job.id, poll_s=0.5, timeout_s=1800)
    total = time.perf_counter() - t0
    assert done.status == "succeeded", done.error
    m = done.metrics
    return {"s_per_step": round(m["train_time_s"] / m["steps"], 3), "total_s": round(total, 1),
            "peak_rss_mb_rank0": round(m["peak_rss_mb"]), "world_size": m["world_size"],
            "losses": [round(x["loss"], 6) for x in m["losses"]]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
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
        results: dict[int, list[dict]] = {1: [], 2: []}
        for _ in range(args.runs):
            for n in (1, 2):
                results[n].append(one(config, data, args.steps, n))
                print(n, {k: v for k, v in results[n][-1].items() if k != "losses"}, flush=True)
    med = {n: {k: statistics.median(r[k] for r in rs) for k in ("s_per_step", "total_s", "peak_rss_mb_rank0")}
           for n, rs in results.items()}
    diff = max(abs(a - b) / max(abs(a), 1e-9) for r1, r2 in zip(results[1], results[2])
               for a, b in zip(r1["losses"], r2["losses"]))
    print(f"{'':28}{'1 process':>12}{'2 processes':>14}{'2 / 1':>8}")
    for k in ("s_per_step", "total_s", "peak_rss_mb_rank0"):
        one_, two = med[1][k], med[2][k]
        print(f"{k + ' (median)':28}{one_:>12.2f}{two:>14.2f}{two / one_:>8.2f}")
    print(f"largest relative loss difference, 2 vs 1 process: {diff:.2e}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"runs": {str(k): v for k, v in results.items()}, "median": med,
                                          "loss_rel_diff_max": diff, "steps": args.steps, "cpus": os.cpu_count(),
                                          "load_avg": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
