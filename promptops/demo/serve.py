"""Demo phase: promote the best prompt behind the gate, serve it, send traffic, collect feedback.

Called by :func:`promptops.demo.run_demo` after every prompt version was evaluated. The gate refuses the
best version (it is below the production gate's 0.8), so it goes to production with ``--force`` and a reason;
then the real server app (in process) takes the traffic set through
``POST /v1/prompts/snips-intent/complete`` on the embedded model, and each call gets the feedback
a user would give: a score of 1 when the answer is right, else the correct intent as a correction.
Those logged calls and corrections are what the escalation phase fine-tunes on.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Callable

import httpx

from ..deploy import promote
from ..errors import GateError
from ..server import create_app
from ..store import open_store

NAME = "snips-intent"
CONCURRENCY = 64  # the local provider batches requests that arrive together


def phase(*, config: Any, figures: dict, quick: bool, say: Callable[[str], None], table: Any) -> dict:
    """Promote, serve, send traffic with feedback; returns ``{"traffic": {...}}``."""
    best = figures["best_prompt"]
    spec = f"{NAME}@{best['commit']}"
    store = open_store(config)
    say(f"== 3. Promote the best version ({best['version']}, {100 * best['accuracy']:.1f}%) to production")
    gate_message = None
    try:
        deployment = promote(config, spec, "production", actor="demo", store=store)
        gate = "passed"
    except GateError as exc:
        gate, gate_message = "refused", exc.one_line()
        say(f"promptops promote {spec[:len(NAME) + 11]} --to production\n  refused: {gate_message}")
        deployment = promote(config, spec, "production", force=True, reason="best available prompt",
                             actor="demo", store=store)
        say(f"promptops promote {spec[:len(NAME) + 11]} --to production --force --reason 'best available prompt'\n"
            f"  production -> {deployment.version} on {deployment.model} (forced, recorded with its reason; "
            f"git tag promptops/{NAME}/production)")

    lines = (config.root / "datasets" / "traffic" / f"{NAME}.jsonl").read_text(encoding="utf-8").splitlines()
    traffic = [json.loads(line) for line in lines if line.strip()]
    if quick:
        traffic = traffic[:70]
    say(f"== 4. Serve it: {len(traffic)} production requests through POST /v1/prompts/{NAME}/complete, "
        "each answered by users (score 1 when right, else the correct intent)")
    key, _ = store.create_api_key("write", "demo traffic")
    app = create_app(config, store=store, warm_providers=False)
    start = time.perf_counter()
    outcomes = asyncio.run(_send(app, key, traffic[:-1]))
    alone = asyncio.run(_send(app, key, traffic[-1:]))[0]  # the last one on an idle server: a request's own latency
    outcomes.append(alone)
    duration = time.perf_counter() - start

    served = [o for o in outcomes if o["call_id"] and o["output"] is not None]
    correct = sum(1 for o in served if o["correct"])
    errors = len(outcomes) - len(served)
    corrections = sum(1 for o in served if not o["correct"])
    feedback_ok = sum(1 for o in outcomes if o["feedback_status"] == 201)
    latencies = sorted(o["latency_ms"] for o in served if o["latency_ms"] is not None)
    queued = [o for o in served if o["latency_ms"] is not None and o["queue_ms"] is not None]
    waits = sorted(o["queue_ms"] for o in queued)
    generation = sorted(o["latency_ms"] - o["queue_ms"] for o in queued)
    accuracy = correct / len(served) if served else 0.0
    logged = len(store.list_calls(prompt=NAME, version=deployment.version, limit=100_000))
    table(None, ["requests", "served", "errors", "right (score 1)", "corrected", "feedback stored", "served accuracy",
                 "wall"],
          [[len(outcomes), len(served), errors, correct, corrections, feedback_ok, f"{100 * accuracy:.1f}%",
            f"{duration:.1f} s"]])
    table(f"latency per request ({CONCURRENCY} in flight; the embedded model answers them in batches of up to 32)",
          ["", "p50"],
          [["request under load (what a client waited)", _ms(_p50(latencies))],
           ["  of which waiting for its batch to start", _ms(_p50(waits))],
           ["  of which generating (its batch)", _ms(_p50(generation))],
           ["one request alone, idle server", _ms(alone["latency_ms"])]])
    say(f"{logged} calls of {NAME}@{deployment.version} are logged with their feedback; "
        f"{corrections} carry a user's correction (see them at /calls in 'promptops serve').")
    return {"traffic": {
        "requests": len(outcomes), "served": len(served), "errors": errors, "correct": correct,
        "corrections": corrections, "feedback": feedback_ok, "served_accuracy": accuracy,
        "logged_calls": logged, "version": deployment.version, "model": deployment.model,
        "deployment_id": deployment.id, "gate": gate, "gate_message": gate_message,
        "duration_s": round(duration, 2),
        "latency_p50_ms": _p50(latencies), "queue_p50_ms": _p50(waits), "generation_p50_ms": _p50(generation),
        "latency_alone_ms": alone["latency_ms"],
    }}


def _p50(values: list[float]) -> float | None:
    return values[len(values) // 2] if values else None


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


async def _send(app: Any, key: str, traffic: list[dict]) -> list[dict]:
    """Each request: complete, then feedback on the logged call; CONCURRENCY at a time."""
    headers = {"Authorization": f"Bearer {key}"}
    limit = asyncio.Semaphore(CONCURRENCY)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://promptops.demo", headers=headers,
                                 timeout=600) as client:

        async def one(item: dict) -> dict:
            label = str(item["label"])
            async with limit:
                r = await client.post(f"/v1/prompts/{NAME}/complete", json={"variables": item["vars"]})
                body = r.json()
                call_id, output = body.get("call_id"), body.get("output") if r.status_code == 200 else None
                correct = output is not None and output.strip().lower() == label.lower()
                status = None
                if call_id and output is not None:
                    feedback = {"score": 1} if correct else {"score": 0, "correction": label}
                    status = (await client.post(f"/v1/calls/{call_id}/feedback", json=feedback)).status_code
            return {"call_id": call_id, "output": output, "correct": correct, "feedback_status": status,
                    "latency_ms": body.get("latency_ms"), "queue_ms": body.get("queue_ms")}

        return await asyncio.gather(*(one(item) for item in traffic))
