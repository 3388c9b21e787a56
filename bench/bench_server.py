"""Benchmark: serving a prompt. In-process latency of resolving ``name@production`` and rendering
it, and requests per second of ``GET /v1/prompts/{name}`` next to a bare FastAPI endpoint measured
in the same run, on the same uvicorn settings, with the same load generator.

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python bench/bench_server.py \
        [--iterations 2000] [--duration 5] [--connections 32] [--out bench/out/server.json]

Load generator: ``wrk`` when installed (apt-get install -y wrk), else an httpx/asyncio client in
its own process. Each server is uvicorn, one worker, in a subprocess, access log off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

PROMPT = """---
name: support-reply
description: Draft a reply to a customer message.
model: openai/gpt-4o-mini
params: {temperature: 0.2, max_tokens: 200}
input:
  customer: string
  message: string
  tone: {type: string, required: false, default: friendly}
---
system:
You are a support agent for Acme. Be {{ tone }} and concise. Never promise refunds.
user:
Customer {{ customer }} wrote:
{{ message }}
Draft a reply.
"""
VARS = {"customer": "Ada", "message": "My order #123 arrived broken. What can I do?"}


def build_project(root: Path) -> None:
    from promptops import deploy
    from promptops.config import load_config

    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "support-reply.prompt").write_text(PROMPT)
    (root / ".gitignore").write_text(".promptops/\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=Bench", "-c", "user.email=b@example.com", "commit", "-qm", "v1"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    deploy.promote(load_config(root), "support-reply@HEAD", "production", force=True, reason="bench", actor="bench")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def in_process(root: Path, iterations: int) -> list[dict]:
    """Latency of resolve + render, three ways: the server's kept prompt (within its TTL), the
    server's re-check (TTL 0: one query for the label's deployment id), and the library's
    ``deploy.deployed_prompt`` (the path without the server's cache)."""
    from promptops import deploy
    from promptops.config import load_config
    from promptops.server.serving import PromptCache
    from promptops.store import open_store

    config = load_config(root)
    store = open_store(config)
    rows = []
    cases = [("server cache, within TTL (1 s)", PromptCache(config, store, ttl=1.0)),
             ("server cache, TTL 0 (deployment id checked per call)", PromptCache(config, store, ttl=0.0))]
    for label, cache in cases:
        def once() -> None:
            cache.by_label("support-reply", "production").prompt.render(VARS)
        rows.append(_time(label, once, iterations))

    def library() -> None:
        prompt, _ = deploy.deployed_prompt(config, "support-reply", "production", store=store)
        prompt.render(VARS)

    rows.append(_time("deploy.deployed_prompt + render (no server cache)", library, iterations))
    return rows


def _time(label: str, fn, iterations: int) -> dict:
    for _ in range(50):
        fn()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    return {"what": label, "p50_ms": pct(samples, 50), "p99_ms": pct(samples, 99),
            "mean_ms": statistics.fmean(samples), "iterations": iterations}


# ------------------------------------------------------------------ servers in subprocesses


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(kind: str, root: str, port: int) -> None:
    """Subprocess entry: ``kind`` is 'promptops' (the real app) or 'bare' (one FastAPI route)."""
    import uvicorn

    if kind == "bare":
        from fastapi import FastAPI

        app = FastAPI()

        @app.get("/bare")
        async def bare() -> dict:
            return {"ok": True}
    else:
        from promptops.config import load_config
        from promptops.server import create_app

        app = create_app(load_config(Path(root)))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(kind: str, root: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--root", str(root), "--port", str(port)])
    import httpx

    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return proc, port
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def load(url: str, duration: float, connections: int) -> tuple[float, str]:
    """Requests per second against ``url``: wrk when installed, else an asyncio client process."""
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration:g}s", url], capture_output=True,
                             text=True, check=True).stdout
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        if non2xx:
            raise RuntimeError(f"{url}: {non2xx.group(1)} error responses")
        return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "wrk"
    out = subprocess.run([sys.executable, __file__, "--load", url, "--duration", str(duration),
                          "--connections", str(connections)], capture_output=True, text=True, check=True).stdout
    return float(out.strip()), "httpx"


async def _httpx_load(url: str, duration: float, connections: int) -> float:
    import httpx

    done = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits) as client:
        stop = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < stop:
                r = await client.get(url)
                r.raise_for_status()
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return done / (time.perf_counter() - start)


def http(root: Path, duration: float, connections: int) -> list[dict]:
    rows = []
    for kind, path in (("bare", "/bare"), ("promptops", "/v1/prompts/support-reply"),
                       ("promptops", "/v1/prompts/support-reply?label=production")):
        proc, port = start(kind, root)
        try:
            url = f"http://127.0.0.1:{port}{path}"
            load(url, 1.0, connections)  # warm up
            rps, tool = load(url, duration, connections)
        finally:
            proc.terminate()
            proc.wait(10)
        rows.append({"endpoint": f"GET {path}" + (" (bare FastAPI)" if kind == "bare" else ""), "rps": rps,
                     "tool": tool})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--serve", choices=["bare", "promptops"], help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.root, args.port)
        return
    if args.load:
        print(asyncio.run(_httpx_load(args.load, args.duration, args.connections)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        build_project(root)
        latency = in_process(root, args.iterations)
        rps = http(root, args.duration, args.connections)
    bare = rps[0]["rps"]
    print(f"\n### Resolve `support-reply@production` + render, in process ({args.iterations} iterations)\n")
    print("| path | p50 | p99 | mean |\n|---|---|---|---|")
    for r in latency:
        print(f"| {r['what']} | {r['p50_ms']:.3f} ms | {r['p99_ms']:.3f} ms | {r['mean_ms']:.3f} ms |")
    print(f"\n### Requests per second ({rps[0]['tool']}, {args.connections} connections, {args.duration:g} s each, "
          f"uvicorn 1 worker, {os.cpu_count()} CPUs)\n")
    print("| endpoint | requests/s | vs bare |\n|---|---|---|")
    for r in rps:
        print(f"| {r['endpoint']} | {r['rps']:,.0f} | {r['rps'] / bare:.2f}× |")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"latency": latency, "rps": rps}, indent=2))


if __name__ == "__main__":
    main()
