"""Runner benchmark: promptops eval against the project's fake OpenAI-compatible server.

    python bench/bench_runner.py [--cases 1000] [--latency 0.05] [--concurrency 50]
                                 [--promptfoo DIR | --no-promptfoo]

Side by side in one run, against the fake server in its own process (every figure is a whole
process tree, measured by bench/proctree.py: wall, CPU of all processes, the largest process's peak
RSS and the peak of all processes' summed PSS):

1. promptops: 3,000 calls (cases × 3 models) at --latency; wall and the calls phase (first call
   sent to last answer, from the JSON report's ``calls_s``) as ratios to the physical limit
   calls × latency / concurrency; once with no ``.promptops/`` (a first run: the plans are compiled,
   so litellm is imported) and once with the compiled plans on disk from that run (``--no-cache``:
   every call made again, litellm not imported), alternating with promptfoo;
2. promptfoo 0.121.20 on the same server, suite and concurrency (installed from the npm registry
   into DIR, default bench/out/promptfoo, on first use);
3. the floor: bare ``litellm.acompletion`` calls, no promptops, in one process per core;
4. the same eval fully cached (3 models, then 1 model), and promptfoo's cached rerun;
5. 1,000 calls on one model, and the bare litellm floor for them in one process;
6. 1,000 calls on one model at --slow-latency (500 ms), first run and plans on disk;
7. a 20-case eval (1 model, no cache), first run and plans on disk.

Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import proctree  # noqa: E402
from proctree import TreeStats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
PROMPT = """---
name: bench
models: [m1, m2, m3]
params: {temperature: 0, max_tokens: 16}
input: {question: string}
suite: datasets/bench
assert:
  - type: contains
    value: "{{ expected }}"
---
system:
Answer briefly.
user:
{{ question }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([PY, "-m", "promptops.testing.fake_openai", "--port", str(port), "--latency", str(latency)],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    proc.stdout.readline()
    return proc, f"http://127.0.0.1:{port}/v1"


def make_project(folder: Path, base_url: str, cases: int, concurrency: int) -> None:
    (folder / "prompts").mkdir(parents=True)
    (folder / "datasets" / "bench").mkdir(parents=True)
    (folder / "prompts" / "bench.prompt").write_text(PROMPT)
    models = {m: {"model": f"openai/{m}", "api_base": base_url, "params": {"api_key": "bench"}} for m in ("m1", "m2", "m3")}
    import yaml

    (folder / "promptops.yaml").write_text(yaml.safe_dump({"models": models, "concurrency": concurrency,
                                                          "max_retries": 2}))
    with open(folder / "datasets" / "bench" / "cases.jsonl", "w") as f:
        for i in range(cases):
            q = f"question number {i}"
            f.write(json.dumps({"id": f"q{i}", "vars": {"question": q}, "expected": q}) + "\n")


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> TreeStats:
    """Run a whole process tree, measured: wall, CPU, largest RSS, summed PSS (bench/proctree.py)."""
    stats = proctree.run(cmd, cwd=cwd, env=env or ENV)
    if stats.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{stats.stdout}\n{stats.stderr}")
    return stats


def promptops_eval(folder: Path, *args: str, env: dict | None = None) -> tuple[TreeStats, dict]:
    out = folder / "report.json"
    stats = timed([str(Path(PY).parent / "promptops"), "eval", "bench", "-q", "--json", str(out), *args], folder,
                  env={**ENV, **(env or {})})
    return stats, json.loads(out.read_text())


#: the 3,000-call row's variants, run side by side (alternating) with --compare: name -> environment
VARIANTS = {
    "compiled plans, default workers": {},
    "compiled plans, one process (PROMPTOPS_WORKERS=1)": {"PROMPTOPS_WORKERS": "1"},
    "compiled plans, 2 workers (PROMPTOPS_WORKERS=2)": {"PROMPTOPS_WORKERS": "2"},
    "`litellm.acompletion` (PROMPTOPS_LITELLM_DIRECT=0), default workers": {"PROMPTOPS_LITELLM_DIRECT": "0"},
    "`litellm.acompletion`, one process": {"PROMPTOPS_LITELLM_DIRECT": "0", "PROMPTOPS_WORKERS": "1"},
}


FLOOR_CHILD = """
import asyncio, os, sys, time
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
import litellm
litellm.suppress_debug_info = True
url, first, count, limit = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
async def main():
    gate = asyncio.Semaphore(limit)
    async def one(i):
        async with gate:
            r = await litellm.acompletion(model="openai/m1", api_base=url, api_key="bench", num_retries=0,
                                          temperature=0, max_tokens=16,
                                          messages=[{"role": "system", "content": "Answer briefly."},
                                                    {"role": "user", "content": f"question number {i}"}])
            return r.choices[0].message.content
    start = time.perf_counter()
    out = await asyncio.gather(*(one(i) for i in range(first, first + count)))
    assert all(o == f"question number {i}" for i, o in zip(range(first, first + count), out))
    print(time.perf_counter() - start)
asyncio.run(main())
"""


def litellm_floor(url: str, calls: int, concurrency: int, processes: int) -> tuple[float, float, float]:
    """Bare ``litellm.acompletion`` (no promptops) in ``processes`` processes started together, each
    with its share of the calls and of the concurrency: wall, longest calls phase, CPU seconds."""
    import resource

    share = calls // processes
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    procs = [subprocess.Popen([PY, "-c", FLOOR_CHILD, url, str(p * share), str(share), str(concurrency // processes)],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in range(processes)]
    phases = []
    for proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"litellm floor process failed: {err[-2000:]}")
        phases.append(float(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, max(phases), cpu


def promptfoo(folder: Path, pf_dir: Path, base_url: str, cases: int, concurrency: int, models: int,
              *, cache: bool = False) -> TreeStats:
    import yaml

    providers = [{"id": f"openai:chat:m{i}", "config": {"apiBaseUrl": base_url, "apiKey": "bench", "temperature": 0,
                                                          "max_tokens": 16}} for i in range(1, models + 1)]
    tests = [{"vars": {"question": f"question number {i}"},
              "assert": [{"type": "contains", "value": f"question number {i}"}]} for i in range(cases)]
    cfg = {"prompts": [json.dumps([{"role": "system", "content": "Answer briefly."},
                                   {"role": "user", "content": "{{question}}"}])],
           "providers": providers, "tests": tests}
    (folder / "promptfooconfig.yaml").write_text(yaml.safe_dump(cfg))
    env = {**ENV, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_CONFIG_DIR": str(folder / ".pf"), "PROMPTFOO_CACHE_PATH": str(folder / ".pf-cache"),
           "OPENAI_API_KEY": "bench"}
    binary = pf_dir / "node_modules" / ".bin" / "promptfoo"
    cmd = [str(binary), "eval", "-c", "promptfooconfig.yaml", "-j", str(concurrency), "--no-table", "--no-write",
           "--no-progress-bar", *([] if cache else ["--no-cache"])]
    stats = proctree.run(cmd, cwd=folder, env=env)
    if stats.returncode not in (0, 100):  # 100: some assertion failed
        raise SystemExit(f"promptfoo failed:\n{stats.stdout[-2000:]}\n{stats.stderr[-2000:]}")
    return stats


HEADER = ("| what | wall, whole process | calls phase | wall / limit | calls phase / limit | CPU (all processes) "
          "| CPU per call | peak RSS, largest process | peak PSS, all processes |\n|---|---|---|---|---|---|---|---|---|")


def median_run(runs: list[tuple[TreeStats, dict | None]]) -> tuple[TreeStats, dict | None, str]:
    """The run with the median wall time, and the spread of all of them."""
    ordered = sorted(runs, key=lambda r: r[0].wall_s)
    stats, rep = ordered[len(ordered) // 2]
    spread = f" ({ordered[0][0].wall_s:.2f}–{ordered[-1][0].wall_s:.2f})" if len(runs) > 1 else ""
    return stats, rep, spread


def row(what: str, stats: TreeStats | None = None, *, wall: float | None = None, calls_s: float | None = None,
        limit: float | None = None, cpu: float | None = None, spread: str = "", calls: int | None = None) -> str:
    wall = stats.wall_s if stats is not None else wall
    cpu = stats.total_cpu_s if stats is not None else cpu
    cells = [what, f"{wall:.2f} s{spread}", "–" if calls_s is None else f"{calls_s:.2f} s",
             "–" if limit is None else f"{wall / limit:.2f}×",
             "–" if limit is None or calls_s is None else f"{calls_s / limit:.2f}×",
             "–" if cpu is None else f"{cpu:.1f} s",
             "–" if cpu is None or not calls else f"{cpu / calls * 1000:.2f} ms",
             "–" if stats is None else f"{stats.peak_rss_mb:.0f} MB",
             "–" if stats is None else f"{stats.peak_pss_mb:.0f} MB"]
    return "| " + " | ".join(cells) + " |"


def small_eval_rows(folder: Path, url: str, conc: int, ms: int, repeat: int) -> list[str]:
    """A 20-case eval (1 model, no cache): its first run (which compiles the plan) and the median of
    ``repeat`` runs with the plan on disk."""
    make_project(folder, url, 20, conc)
    stats, rep = promptops_eval(folder, "--models", "m1", "--no-cache")
    rows = [row(f"promptops: a 20-case eval, 1 model, {ms} ms, no cache, first run", stats, calls_s=rep["calls_s"],
                calls=20)]
    stats, rep, spread = median_run([promptops_eval(folder, "--models", "m1", "--no-cache") for _ in range(repeat)])
    return rows + [row("promptops: the same 20-case eval, plans on disk", stats, calls_s=rep["calls_s"],
                       spread=spread, calls=20)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--slow-latency", type=float, default=0.5)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--promptfoo", type=Path, default=ROOT / "bench" / "out" / "promptfoo",
                    help="folder for `npm install promptfoo@0.121.20` (installed there when missing)")
    ap.add_argument("--no-promptfoo", action="store_true", help="skip the promptfoo rows")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the 3,000-call rows, alternating promptops and promptfoo (median shown)")
    ap.add_argument("--cached-repeat", type=int, default=5, help="runs of each cached row (median shown)")
    ap.add_argument("--compare", action="store_true",
                    help="run the 3,000-call row in every VARIANTS setting too (compiled plans or acompletion, "
                         "workers or one process), alternating, and show each median")
    ap.add_argument("--only-compare", action="store_true", help="just the --compare rows and the 20-case eval")
    args = ap.parse_args()
    args.compare = args.compare or args.only_compare
    if args.no_promptfoo:
        args.promptfoo = None
    elif not (args.promptfoo / "node_modules" / ".bin" / "promptfoo").exists():
        args.promptfoo.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "promptfoo@0.121.20"], cwd=args.promptfoo,
                       check=True)
    rows = []
    cases, conc, ms = args.cases, args.concurrency, int(args.latency * 1000)
    calls = cases * 3
    limit3, limit1 = calls * args.latency / conc, cases * args.latency / conc
    server, url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "p"
            make_project(folder, url, cases, conc)
            if args.compare:
                runs: dict[str, list] = {name: [] for name in VARIANTS}
                for _ in range(args.repeat):
                    for name, env in VARIANTS.items():
                        shutil.rmtree(folder / ".promptops", ignore_errors=True)
                        stats, rep = promptops_eval(folder, env=env)
                        passed = sum(r["passed"] for r in rep["results"])
                        assert rep["calls"] == calls and passed == calls, (rep["calls"], passed)
                        runs[name].append((stats, rep))
                for name, got in runs.items():
                    stats, rep, spread = median_run(got)
                    rows.append(row(f"promptops, {name}: {calls:,} calls, {ms} ms", stats, calls_s=rep["calls_s"],
                                    limit=limit3, spread=spread, calls=calls))
            rows += small_eval_rows(Path(tmp) / "small", url, conc, ms, args.cached_repeat)
            ours, warm, theirs = [], [], []
            for i in range(0 if args.only_compare else args.repeat):
                shutil.rmtree(folder / ".promptops", ignore_errors=True)
                stats, rep = promptops_eval(folder)
                assert rep["calls"] == calls, rep["calls"]
                ours.append((stats, rep))
                stats, rep = promptops_eval(folder, "--no-cache")  # the plans this run compiled are on disk
                assert rep["calls"] == calls, rep["calls"]
                warm.append((stats, rep))
                if args.promptfoo:
                    pf = Path(tmp) / f"pf{i}"
                    pf.mkdir()
                    theirs.append((promptfoo(pf, args.promptfoo, url, cases, conc, 3), None))
            if args.only_compare:
                return print_table(args, rows, ms, conc, limit3, limit1, calls, cases)
            stats, rep, spread = median_run(ours)
            rows.append(row(f"promptops: {calls:,} calls ({cases:,} cases × 3 models), {ms} ms, first run", stats,
                            calls_s=rep["calls_s"], limit=limit3, spread=spread, calls=calls))
            stats, rep, spread = median_run(warm)
            rows.append(row(f"promptops: the same {calls:,} calls, plans on disk", stats,
                            calls_s=rep["calls_s"], limit=limit3, spread=spread, calls=calls))
            if theirs:
                stats, _, spread = median_run(theirs)
                rows.append(row(f"promptfoo 0.121.20: the same {calls:,} calls", stats, limit=limit3, spread=spread))
            wall, phase, cpu = litellm_floor(url, calls, conc, os.cpu_count() or 1)
            rows.append(row(f"bare `litellm.acompletion`, no promptops: {calls:,} calls in {os.cpu_count()} "
                            f"processes", wall=wall, calls_s=phase, limit=limit3, cpu=cpu))
            runs = [promptops_eval(folder) for _ in range(args.cached_repeat)]
            assert all(r["cached"] == calls and r["calls"] == 0 for _, r in runs)
            stats, _, spread = median_run(runs)
            rows.append(row(f"promptops: the same {calls:,}, fully cached", stats, spread=spread))
            runs = [promptops_eval(folder, "--models", "m1") for _ in range(args.cached_repeat)]
            assert all(r["cached"] == cases and r["calls"] == 0 for _, r in runs)
            stats, _, spread = median_run(runs)
            rows.append(row(f"promptops: {cases:,} cases × 1 model, fully cached", stats, spread=spread))
            if args.promptfoo:
                pf = Path(tmp) / "pf-cached"
                pf.mkdir()
                promptfoo(pf, args.promptfoo, url, cases, conc, 1, cache=True)  # fills its cache
                runs = [(promptfoo(pf, args.promptfoo, url, cases, conc, 1, cache=True), None)
                        for _ in range(max(1, args.cached_repeat // 2))]
                stats, _, spread = median_run(runs)
                rows.append(row(f"promptfoo: {cases:,} cases × 1 model, cached rerun", stats, spread=spread))
            stats, rep = promptops_eval(folder, "--models", "m1", "--no-cache")
            assert rep["calls"] == cases
            rows.append(row(f"promptops: {cases:,} calls, 1 model, {ms} ms", stats, calls_s=rep["calls_s"],
                            limit=limit1))
            wall, phase, cpu = litellm_floor(url, cases, conc, 1)
            rows.append(row(f"bare `litellm.acompletion`: {cases:,} calls in 1 process", wall=wall, calls_s=phase,
                            limit=limit1, cpu=cpu))
    finally:
        server.terminate()
    server, url = start_server(args.slow_latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "p"
            make_project(folder, url, cases, conc)
            slow = cases * args.slow_latency / conc
            stats, rep = promptops_eval(folder, "--models", "m1")
            rows.append(row(f"promptops: {cases:,} calls, 1 model, {int(args.slow_latency * 1000)} ms, first run", stats,
                            calls_s=rep["calls_s"], limit=slow))
            stats, rep = promptops_eval(folder, "--models", "m1", "--no-cache")
            assert rep["calls"] == cases
            rows.append(row(f"promptops: the same {cases:,} calls, plans on disk", stats,
                            calls_s=rep["calls_s"], limit=slow))
    finally:
        server.terminate()
    print_table(args, rows, ms, conc, limit3, limit1, calls, cases)


def print_table(args, rows: list[str], ms: int, conc: int, limit3: float, limit1: float, calls: int,
                cases: int) -> None:
    print(f"\nfake server latency {ms} ms (and {int(args.slow_latency * 1000)} ms), concurrency {conc}, "
          f"{os.cpu_count()} cores; limit = calls × latency / concurrency "
          f"({limit3:.1f} s for {calls:,} calls, {limit1:.1f} s for {cases:,})\n")
    print(f"Walls are the median of {args.repeat} runs (3,000-call rows, promptops and promptfoo alternating) and "
          f"of {args.cached_repeat} runs (cached rows), with the fastest and slowest in brackets; other rows are one run.\n")
    print(HEADER)
    print("\n".join(rows))


if __name__ == "__main__":
    main()
