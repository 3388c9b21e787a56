"""Benchmark: the dashboard's eval pages on a 1,000-case × 3-model run (3,000 results, outputs of
about 200 characters), in process through FastAPI's TestClient, medians of N requests.

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True PYTHONPATH=<tree> .venv/bin/python \
        bench/bench_viewer.py [--runs 7] [--out bench/out/viewer.json]

Run it with ``PYTHONPATH`` at two source trees to put them side by side: a URL that a tree does not
serve (a parameter it lacks) is reported as ``n/a``. Rows are written straight to the store, the
runner is not involved.
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

CASES, MODELS = 1000, ("fake/a", "fake/b", "fake/c")


def fill(store, version: str, flip: int) -> int:
    run = store.create_run(prompt="big", version=version, hash=version, fingerprint=version, models=list(MODELS),
                           branch="main")
    rows = [{"run_id": run.id, "prompt": "big", "version": version, "model": m, "case_id": f"case-{i:04d}",
             "vars": {"text": f"review number {i} " * 5}, "expected": "positive",
             "output": f"answer {i} " + "lorem ipsum dolor sit amet " * 7, "passed": (i + flip) % 7 != 0,
             "reason": "" if (i + flip) % 7 else "expected positive", "latency_ms": 50.0}
            for m in MODELS for i in range(CASES)]
    store.add_results(rows)
    summary = {m: {"accuracy": 0.857, "ci_low": 0.83, "ci_high": 0.88, "passed": 857, "failed": 143, "errors": 0,
                   "latency_p50_ms": 50.0, "cost_usd": 0.0, "total": CASES} for m in MODELS}
    store.finish_run(run.id, summary=summary)
    return run.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out")
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from promptops.config import Config
    from promptops.server import create_app
    from promptops.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prompts").mkdir()
        config = Config(root=root)
        store = open_store(config)
        base, head = fill(store, "a" * 12, 0), fill(store, "b" * 12, 3)
        urls = {"grid, default page (100 cases)": f"/evals/{head}",
                "grid, failures only": f"/evals/{head}?status=failing",
                "grid, failures (old parameter)": f"/evals/{head}?status=fail",
                "grid, search over outputs": f"/evals/{head}?q=answer%2099",
                "grid, all 1,000 cases on one page": f"/evals/{head}?per_page=1000",
                "two runs compared (6,000 results)": f"/evals/{head}?base={base}",
                "home page": "/"}
        figures: dict[str, object] = {}
        for method in ("results", "result_rows"):  # ORM rows; plain rows (what the grid reads)
            if hasattr(store, method):
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    getattr(store, method)(head)
                    times.append((time.perf_counter() - t0) * 1000)
                figures[f"store.{method}(3,000 rows), ms"] = round(statistics.median(times), 1)
        with TestClient(create_app(config, store=store)) as client:
            for name, url in urls.items():
                first = client.get(url)
                if first.status_code != 200:
                    figures[name] = "n/a"
                    continue
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    response = client.get(url)
                    times.append((time.perf_counter() - t0) * 1000)
                figures[name] = {"median_ms": round(statistics.median(times), 1), "kb": round(len(response.content) / 1024)}
    tree = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or "."
    result = {"tree": tree, "python": sys.version.split()[0], "runs": args.runs, "figures": figures}
    print(json.dumps(result, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
