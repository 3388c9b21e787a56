"""Runner benchmark: promptops eval against the project's fake OpenAI-compatible server.

    python bench/bench_runner.py [--cases 1000] [--latency 0.05] [--concurrency 50] [--promptfoo DIR]

Side by side in one run (the fake server runs in its own process; every figure is a whole
`promptops eval` process unless it says "runner"):

1. 3,000 calls (cases × 3 models) at --latency, wall time and peak RSS, as a ratio to the physical
   limit calls × latency / concurrency;
2. the same eval again, fully cached (whole process);
3. 1,000 calls on one model (wall and runner time);
4. 1,000 calls on one model at 500 ms latency;
5. with --promptfoo DIR (a folder where `npm install promptfoo@0.121.20` was run): promptfoo on the
   same server, suite and concurrency.

Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def timed(cmd: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (via /usr/bin/time), stdout."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], cwd=cwd, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    rss_kb = int(proc.stderr.strip().splitlines()[-1])
    return wall, rss_kb / 1024, proc.stdout


def promptops_eval(folder: Path, *args: str) -> tuple[float, float, dict]:
    out = folder / "report.json"
    wall, rss, _ = timed([str(Path(PY).parent / "promptops"), "eval", "bench", "-q", "--json", str(out), *args], folder)
    return wall, rss, json.loads(out.read_text())


def promptfoo(folder: Path, pf_dir: Path, base_url: str, cases: int, concurrency: int, models: int) -> tuple[float, float]:
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
           "PROMPTFOO_CONFIG_DIR": str(folder / ".pf"), "OPENAI_API_KEY": "bench"}
    binary = pf_dir / "node_modules" / ".bin" / "promptfoo"
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", str(binary), "eval", "-c", "promptfooconfig.yaml", "--no-cache",
                           "-j", str(concurrency), "--no-table", "--no-write", "--no-progress-bar"], cwd=folder, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    rss = int(proc.stderr.strip().splitlines()[-1]) / 1024 if proc.stderr.strip() else float("nan")
    if proc.returncode not in (0, 100):
        print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
    return wall, rss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--slow-latency", type=float, default=0.5)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--promptfoo", type=Path, default=None, help="folder with node_modules/.bin/promptfoo")
    args = ap.parse_args()
    rows = []
    server, url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "p"
            make_project(folder, url, args.cases, args.concurrency)
            calls = args.cases * 3
            limit = calls * args.latency / args.concurrency
            wall, rss, rep = promptops_eval(folder)
            assert rep["calls"] == calls, rep["calls"]
            runner = rep["duration_s"]
            rows.append((f"{calls:,} calls, 3 models, {int(args.latency * 1000)} ms", f"{wall:.2f} s",
                         f"{runner:.2f} s", f"{wall / limit:.2f}×", f"{rss:.0f} MB"))
            wall, rss, rep = promptops_eval(folder)
            assert rep["cached"] == calls and rep["calls"] == 0
            rows.append((f"same eval, fully cached", f"{wall:.2f} s", f"{rep['duration_s']:.2f} s", "–", f"{rss:.0f} MB"))
            one = args.cases
            limit1 = one * args.latency / args.concurrency
            wall, rss, rep = promptops_eval(folder, "--models", "m1", "--no-cache", "--repeat", "1")
            rows.append((f"{one:,} calls, 1 model, {int(args.latency * 1000)} ms", f"{wall:.2f} s",
                         f"{rep['duration_s']:.2f} s", f"{rep['duration_s'] / limit1:.2f}× (runner)", f"{rss:.0f} MB"))
            if args.promptfoo:
                pf_folder = Path(tmp) / "pf"
                pf_folder.mkdir()
                wall, rss = promptfoo(pf_folder, args.promptfoo, url, args.cases, args.concurrency, 3)
                rows.append((f"promptfoo 0.121.20: {calls:,} calls, 3 models", f"{wall:.2f} s", "–",
                             f"{wall / limit:.2f}×", f"{rss:.0f} MB"))
    finally:
        server.terminate()
    server, url = start_server(args.slow_latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "p"
            make_project(folder, url, args.cases, args.concurrency)
            limit = args.cases * args.slow_latency / args.concurrency
            wall, rss, rep = promptops_eval(folder, "--models", "m1")
            rows.append((f"{args.cases:,} calls, 1 model, {int(args.slow_latency * 1000)} ms", f"{wall:.2f} s",
                         f"{rep['duration_s']:.2f} s", f"{rep['duration_s'] / limit:.2f}× (runner)", f"{rss:.0f} MB"))
    finally:
        server.terminate()
    print(f"\nfake server latency {args.latency * 1000:.0f} ms, concurrency {args.concurrency}, "
          f"{os.cpu_count()} cores; limit = calls × latency / concurrency\n")
    print("| what | wall (whole process) | runner | vs limit | peak RSS |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
