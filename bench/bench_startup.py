"""Start-up time of the CLI against a bare interpreter, in one run.

    python bench/bench_startup.py [--runs 15]

Runs each command --runs times in this repository and prints the median and the best wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def measure(cmd: list[str], runs: int) -> tuple[float, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    cli = str(Path(sys.executable).parent / "promptops")
    rows = [("python -c pass", [sys.executable, "-c", "pass"]),
            ("promptops --version", [cli, "--version"]),
            ("promptops --help", [cli, "--help"]),
            ("promptops list (2 prompts, 260 cases)", [cli, "list"])]
    print(f"| command | median | best | ({args.runs} runs, {os.cpu_count()} cores) |")
    print("|---|---|---|---|")
    for name, cmd in rows:
        med, best = measure(cmd, args.runs)
        print(f"| `{name}` | {med * 1000:.0f} ms | {best * 1000:.0f} ms | |")


if __name__ == "__main__":
    main()
