"""Benchmark: the overhead of the ``ray`` fine-tune backend over the ``local`` one, for the same job.

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True PYTHONPATH=. .venv/bin/python bench/bench_ray_jobs.py \
        [--runs 3] [--steps 10] [--real] [--out bench/out/ray_jobs.json]

One project, one small job run ``--runs`` times on each backend, alternating. Per run: the time from
``jobs.create`` (submission) to the first training step in the job record, and to the record saying
succeeded. Without ``--real`` the job uses the fast fake trainer of ``tests/test_jobs.py`` (``--steps``
steps of 0.05 s: what is left is the backends' own cost); with ``--real`` it trains the embedded model
for real (``--steps`` LoRA steps). The local Ray (2 CPUs, started by ``ray.init`` in this process) is
timed once, apart: a running cluster does not pay it per job.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one(config, backend: str, data: Path, steps: int, real: bool) -> dict[str, float]:
    from promptops.finetune import jobs
    from promptops.store import open_store

    store = open_store(config)
    tc = {"max_steps": steps, "lora_r": 4}
    if real:
        tc.update(batch_size=4, eval_generate=False)
    t0 = time.perf_counter()
    job = jobs.create(config, "bench", data, tc, backend=backend)
    first = None
    while True:
        j = jobs.get(config, job.id, store=store)
        if first is None and (j.progress or {}).get("step", 0) >= 1:
            first = time.perf_counter() - t0
        if j.status in jobs.FINAL:
            break
        time.sleep(0.05)
    total = time.perf_counter() - t0
    assert j.status == "succeeded", j.error
    return {"first_step_s": round(first or total, 2), "total_s": round(total, 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--out", default="bench/out/ray_jobs.json")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    if not args.real:
        os.environ["PROMPTOPS_JOB_TRAINER"] = "tests.test_ray_jobs"
        os.environ["PROMPTOPS_TEST_STEP_S"] = "0.05"
    os.environ["PROMPTOPS_JOB_HEARTBEAT_S"] = "0.5"
    import ray

    from promptops.config import load_config

    t = time.perf_counter()
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1",
                   dashboard_port=_free_port(), log_to_driver=False, configure_logging=False)
    ray_start = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "proj"
        (root / "prompts").mkdir(parents=True)
        (root / "promptops.yaml").write_text(f"ray:\n  address: http://{ctx.dashboard_url}\n")
        data = root / "data"
        data.mkdir()
        rows = [{"messages": [{"role": "user", "content": f"item {i}"}, {"role": "assistant", "content": "Blue"}]}
                for i in range(12)]
        (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:10]))
        (data / "val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[10:]))
        config = load_config(root)
        results: dict[str, list[dict]] = {"local": [], "ray": []}
        for _ in range(args.runs):
            for backend in ("local", "ray"):
                results[backend].append(one(config, backend, data, args.steps, args.real))
                print(backend, results[backend][-1], flush=True)
    ray.shutdown()
    med = {b: {k: statistics.median(r[k] for r in rs) for k in ("first_step_s", "total_s")}
           for b, rs in results.items()}
    print(f"local Ray start (ray.init, once): {ray_start:.1f} s")
    print(f"{'':24}{'local':>10}{'ray':>10}{'ray - local':>14}{'ray / local':>13}")
    for k in ("first_step_s", "total_s"):
        lo, ra = med["local"][k], med["ray"][k]
        print(f"{k + ' (median)':24}{lo:>10.2f}{ra:>10.2f}{ra - lo:>14.2f}{ra / lo:>13.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"ray_start_s": round(ray_start, 2), "runs": results, "median": med,
                                          "steps": args.steps, "real": args.real, "cpus": os.cpu_count(),
                                          "load_avg": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
