"""Where the 3,000-call eval's CPU goes: the main process (grading, writing, dispatch) against the
worker processes (the calls), per call, with the calls phase as a ratio to the physical limit.

    python bench/bench_main_cpu.py [--cases 1000] [--latency 0.05] [--concurrency 50] [--repeat 3]

Side by side in one run (alternating), against the fake server in its own process: the default
workers and one process (PROMPTOPS_WORKERS=1), each with no cache and the plans on disk (a first,
unmeasured eval stores them). Prints a Markdown table (medians of --repeat runs)."""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_runner import make_project, promptops_eval, start_server  # noqa: E402

SETTINGS = {"default workers": {}, "one process (PROMPTOPS_WORKERS=1)": {"PROMPTOPS_WORKERS": "1"}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    calls = args.cases * 3
    limit = calls * args.latency / args.concurrency
    server, url = start_server(args.latency)
    got: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in SETTINGS}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "p"
            make_project(folder, url, args.cases, args.concurrency)
            promptops_eval(folder, "--no-cache", "--max-cases", "5")  # stores every model's plan; not measured
            for _ in range(args.repeat):
                for name, env in SETTINGS.items():
                    shutil.rmtree(folder / ".promptops" / "promptops.db", ignore_errors=True)
                    stats, rep = promptops_eval(folder, "--no-cache", env=env)
                    assert rep["calls"] == calls and sum(r["passed"] for r in rep["results"]) == calls
                    main_cpu = stats.cpu_s.get(stats.root_pid, ("", 0.0))[1]
                    got[name].append((stats.wall_s, rep["calls_s"], main_cpu, stats.total_cpu_s))
    finally:
        server.terminate()
    print(f"\n{calls:,} calls, {int(args.latency * 1000)} ms, concurrency {args.concurrency}, limit {limit:.1f} s; "
          f"medians of {args.repeat}\n")
    print("| setting | wall | calls phase | calls phase / limit | CPU, main process | main process per call "
          "| CPU, all processes | all per call |\n|---|---|---|---|---|---|---|---|")
    for name, runs in got.items():
        wall, phase, main_cpu, total = (statistics.median(r[i] for r in runs) for i in range(4))
        print(f"| {name} | {wall:.2f} s | {phase:.2f} s | {phase / limit:.2f}× | {main_cpu:.2f} s | "
              f"{main_cpu / calls * 1000:.2f} ms | {total:.2f} s | {total / calls * 1000:.2f} ms |")


if __name__ == "__main__":
    main()
