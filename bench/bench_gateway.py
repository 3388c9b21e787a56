"""Benchmark: the gateway's added latency. The same chat completion, under the same concurrent
load, sent (a) straight to the fake OpenAI-compatible server and (b) through promptops'
``POST /v1/chat/completions`` with ``model: "prompt:support-reply"`` (resolve the label, render,
call the fake server through litellm, log the call in SQLite, answer), side by side in one run.

    HF_HUB_OFFLINE=1 LITELLM_LOCAL_MODEL_COST_MAP=True .venv/bin/python bench/bench_gateway.py \
        [--clients 50] [--duration 10] [--latency 0.05] [--workers 1,2] [--out bench/out/gateway.json]

Each of the fake server, the promptops server (uvicorn, one worker, access log off) and the load
generator (aiohttp, ``--clients`` concurrent clients, each sending its next request when
its last one is answered) is its own process. ``--workers 1,2``: one gateway row per number of
uvicorn worker processes (``promptops serve --workers N``), each its own server on the one database. A third row is the application calling the fake
server through ``litellm.acompletion`` itself, in one process: litellm's own cost per call, which
the gateway pays too (it calls the model through litellm).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
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
model: fake/gpt
params: {temperature: 0.2, max_tokens: 200}
input:
  customer: string
  message: string
---
system:
You are a support agent for Acme. Be friendly and concise. Never promise refunds.
user:
Customer {{ customer }} wrote:
{{ message }}
Draft a reply.
"""
VARS = {"customer": "Ada", "message": "My order #123 arrived broken. What can I do?"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_project(root: Path, fake_url: str) -> None:
    import yaml

    from promptops import deploy
    from promptops.config import load_config

    (root / "prompts").mkdir(parents=True)
    (root / "prompts" / "support-reply.prompt").write_text(PROMPT)
    (root / ".gitignore").write_text(".promptops/\n")
    config = {"models": {"fake/gpt": {"model": "openai/gpt", "api_base": fake_url, "params": {"api_key": "bench"}}},
              "max_retries": 0}
    (root / "promptops.yaml").write_text(yaml.safe_dump(config))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=Bench", "-c", "user.email=b@example.com", "commit", "-qm", "v1"]):
        subprocess.run(["git", *args], cwd=root, check=True)
    deploy.promote(load_config(root), "support-reply@HEAD", "production", force=True, reason="bench", actor="bench")


def wait_for(url: str, proc: subprocess.Popen) -> None:
    import httpx

    deadline = time.time() + 240  # worker processes start slowly on a loaded machine
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


def serve(root: str, port: int, workers: int = 1) -> None:
    import uvicorn

    from promptops.config import load_config
    from promptops.server import create_app
    from promptops.server.app import WORKER_ROOT_ENV

    if workers > 1:  # as `promptops serve --workers N` runs them
        os.environ[WORKER_ROOT_ENV] = root
        uvicorn.run("promptops.server.app:worker_app", factory=True, workers=workers, host="127.0.0.1", port=port,
                    log_level="warning", access_log=False)
        return
    app = create_app(load_config(Path(root)), warm_providers=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def _load_litellm(api_base: str, body: dict, duration: float, clients: int) -> dict:
    """The application's own litellm call to the fake server (what it pays without promptops)."""
    from promptops.providers import setup_litellm

    litellm = setup_litellm()
    latencies: list[float] = []
    stop = time.perf_counter() + duration

    async def worker() -> None:
        while time.perf_counter() < stop:
            start = time.perf_counter()
            await litellm.acompletion(model=f"openai/{body['model']}", api_base=api_base, api_key="bench",
                                      messages=body["messages"], temperature=body["temperature"],
                                      max_tokens=body["max_tokens"], num_retries=0)
            latencies.append((time.perf_counter() - start) * 1000.0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return {"latencies": latencies, "errors": 0, "elapsed": time.perf_counter() - start}


async def _load(url: str, body: dict, duration: float, clients: int, key: str | None) -> dict:
    if key == "litellm":
        return await _load_litellm(url, body, duration, clients)
    import aiohttp  # a litellm dependency; far less client CPU per request than httpx's async pool

    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    payload = json.dumps(body).encode()
    headers["Content-Type"] = "application/json"
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        stop = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop:
                start = time.perf_counter()
                try:
                    async with session.post(url, data=payload) as r:
                        await r.read()
                        if r.status != 200:
                            errors += 1
                            continue
                except (aiohttp.ClientError, asyncio.TimeoutError):  # counted, not fatal to the run
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - start) * 1000.0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed}


def load(url: str, body: dict, duration: float, clients: int, key: str | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--load", url, "--body", json.dumps(body), "--key", key or "",
                          "--duration", str(duration), "--clients", str(clients)],
                         stdout=subprocess.PIPE, text=True, check=True).stdout  # its errors show
    return json.loads(out)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def summary(what: str, result: dict) -> dict:
    lat = result["latencies"]
    return {"what": what, "requests": len(lat), "errors": result["errors"], "p50_ms": pct(lat, 50),
            "p99_ms": pct(lat, 99), "rps": len(lat) / result["elapsed"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--latency", type=float, default=0.05, help="the fake server's answer time, seconds")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--workers", default="1", help="gateway rows: uvicorn worker counts, comma-separated")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--body", help=argparse.SUPPRESS)
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workers = [int(w) for w in str(args.workers).split(",") if w.strip()]
    if args.serve:
        serve(args.serve, args.port, workers[0])
        return
    if args.load:
        print(json.dumps(asyncio.run(_load(args.load, json.loads(args.body), args.duration, args.clients,
                                           args.key or None))))
        return

    from promptops.prompts import parse_prompt

    procs: list[subprocess.Popen] = []
    try:
        fake_port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "promptops.testing.fake_openai", "--port",
                                       str(fake_port), "--latency", str(args.latency)]))
        fake = f"http://127.0.0.1:{fake_port}/v1"
        wait_for(fake.removesuffix("/v1") + "/health", procs[-1])
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "project"
            build_project(root, fake)
            from promptops.config import load_config
            from promptops.store import open_store

            key, _ = open_store(load_config(root)).create_api_key("write", "bench")
            gateways = []
            for n in workers:
                port = free_port()
                procs.append(subprocess.Popen([sys.executable, __file__, "--serve", str(root), "--port", str(port),
                                               "--workers", str(n)]))
                gateways.append((n, f"http://127.0.0.1:{port}"))
                wait_for(gateways[-1][1] + "/health", procs[-1])
            messages = parse_prompt(PROMPT).render(VARS)
            direct_body = {"model": "gpt", "messages": messages, "temperature": 0.2, "max_tokens": 200}
            gateway_body = {"model": "prompt:support-reply", "messages": [], "variables": VARS}
            # warm up every path (litellm's import, connection pools), then measure them in turn
            load(f"{fake}/chat/completions", direct_body, 2.0, args.clients)
            for _, gateway in gateways:
                load(f"{gateway}/v1/chat/completions", gateway_body, 3.0, args.clients, key)
            load(fake, direct_body, 2.0, args.clients, "litellm")
            rows = [summary("direct to the fake server (aiohttp)", load(f"{fake}/chat/completions", direct_body,
                                                                        args.duration, args.clients))]
            rows += [summary(f"through the gateway (prompt:support-reply), {n} worker{'s' if n > 1 else ''}",
                             load(f"{gateway}/v1/chat/completions", gateway_body, args.duration, args.clients, key))
                     for n, gateway in gateways]
            rows.append(summary("direct to the fake server through litellm.acompletion, 1 process",
                                load(fake, direct_body, args.duration, args.clients, "litellm")))
            logged = len(open_store(load_config(root)).list_calls(limit=1_000_000))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    direct, through = rows[0], rows[1]
    print(f"\n### Gateway vs direct ({args.clients} concurrent clients, {args.duration:g} s each, fake server answers "
          f"in {args.latency * 1000:g} ms, {os.cpu_count()} CPUs)\n")
    print("| path | requests | errors | p50 | p99 | requests/s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['requests']:,} | {r['errors']} | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms "
              f"| {r['rps']:,.0f} |")
    for r in rows[1:-1]:
        print(f"added by the gateway ({r['what'].rsplit(', ', 1)[-1]}): p50 {r['p50_ms'] - direct['p50_ms']:+.1f} ms, "
              f"p99 {r['p99_ms'] - direct['p99_ms']:+.1f} ms")
    print(f"calls logged: {logged:,}")
    del through
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows, "logged": logged, "clients": args.clients,
                                        "duration": args.duration, "latency": args.latency}, indent=2))


if __name__ == "__main__":
    main()
