"""Start-up and the fully cached eval, two source trees side by side in one run.

    python bench/bench_trees.py --base /path/to/other/checkout [--runs 11] [--cases 1000]

Both trees run on this interpreter (``PYTHONPATH=<tree> python -m promptops.cli.main``), so only
their code differs. The commands alternate base/this tree run by run, so a drift of the shared
machine hits both alike. The cached rows share one database: the first eval (made by this tree
against the fake server) fills it, and every measured run is then a fully cached rerun. Prints a
Markdown table: median wall and CPU (all processes) of each command, and the ratio this/base.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proctree  # noqa: E402
from bench_runner import make_project, start_server  # noqa: E402

HERE = Path(__file__).resolve().parents[1]


def run(tree: Path, args: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command. The CPU is the waited-for children's rusage,
    exact for these commands (none of them starts worker processes)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stats = proctree.run([sys.executable, "-m", "promptops.cli.main", *args], cwd=cwd, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if stats.returncode != 0:
        raise SystemExit(f"failed in {tree}: {args}\n{stats.stdout}\n{stats.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return stats.wall_s, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=Path, required=True, help="the other checkout (e.g. the previous commit)")
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--cases", type=int, default=1000)
    args = ap.parse_args()
    trees = {"base": args.base.resolve(), "this": HERE}
    server, url = start_server(0.0)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "p"
            make_project(project, url, args.cases, 50)
            run(HERE, ["eval", "bench", "-q"], project)  # fills the cache; not measured
            commands = [("--version", ["--version"], HERE), ("--help", ["--help"], HERE),
                        ("list (this repository)", ["list"], HERE),
                        (f"eval, {args.cases:,} cases × 3 models, fully cached", ["eval", "bench", "-q"], project),
                        (f"eval, {args.cases:,} cases × 1 model, fully cached",
                         ["eval", "bench", "-q", "--models", "m1"], project)]
            for label, cmd, cwd in commands:
                got: dict[str, list[tuple[float, float]]] = {"base": [], "this": []}
                for i in range(args.runs):
                    for name in (("base", "this") if i % 2 == 0 else ("this", "base")):
                        got[name].append(run(trees[name], cmd, cwd))
                wall = {n: statistics.median(w for w, _ in v) for n, v in got.items()}
                cpu = {n: statistics.median(c for _, c in v) for n, v in got.items()}
                rows.append((label, wall, cpu))
    finally:
        server.terminate()
    print(f"| command | base wall | this wall | this/base | base CPU | this CPU | "
          f"(median of {args.runs}, {os.cpu_count()} cores) |")
    print("|---|---|---|---|---|---|---|")
    for label, wall, cpu in rows:
        print(f"| {label} | {wall['base'] * 1000:.0f} ms | {wall['this'] * 1000:.0f} ms | "
              f"{wall['this'] / wall['base']:.2f} | {cpu['base'] * 1000:.0f} ms | {cpu['this'] * 1000:.0f} ms | |")


if __name__ == "__main__":
    main()
