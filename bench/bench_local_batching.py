"""Local provider: 32 short prompts, greedy, one by one vs one left-padded batch.

    HF_HUB_OFFLINE=1 python bench/bench_local_batching.py [--n 32] [--max-tokens 32] [--through-litellm]

Prints both wall times, the ratio (DESIGN.md: about 6.9x, goal at least 5x) and whether the
outputs are identical, then one Markdown table row. ``--through-litellm`` measures the batched
side as concurrent ``complete("local/smollm2")`` calls (the runner's path) instead of one direct
``generate`` call.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from promptops.providers.batching import GenSettings  # noqa: E402

PROMPTS = [
    "What is the capital of France?", "Say hello.", "Name a color.", "What is 2 + 2?",
    "Write one word about the sea.", "Is the sky blue?", "Name a fruit.", "What is water made of?",
    "Give me a synonym for happy.", "What day comes after Monday?", "Name an animal that flies.",
    "Translate 'thank you' to French.", "What is the opposite of hot?", "Name a planet.",
    "How many legs does a spider have?", "What color is grass?", "Name a musical instrument.",
    "What is the boiling point of water in Celsius?", "Say something kind.", "Name a country in Asia.",
    "What is 10 minus 3?", "Name a vegetable.", "What do bees make?", "Name a month of the year.",
    "What is the largest ocean?", "Name a shape.", "What do cows drink?", "Name a sport.",
    "Who wrote Romeo and Juliet?", "What is ice made of?", "Name a programming language.",
    "What is the color of the sun?",
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--through-litellm", action="store_true")
    args = ap.parse_args()

    from promptops.providers import local

    backend = local.get_backend()
    t = time.perf_counter()
    backend.load("smollm2")
    load_s = time.perf_counter() - t
    prompts = [[{"role": "user", "content": p}] for p in (PROMPTS * (args.n // len(PROMPTS) + 1))[:args.n]]
    settings = GenSettings(max_tokens=args.max_tokens)
    backend.generate("smollm2", prompts[:2], settings)  # warm-up

    t = time.perf_counter()
    single = [backend.generate("smollm2", [p], settings)[0] for p in prompts]
    one_by_one = time.perf_counter() - t

    t = time.perf_counter()
    if args.through_litellm:
        from promptops.providers import complete

        async def run() -> list:
            return await asyncio.gather(*[
                complete("local/smollm2", p, {"max_tokens": args.max_tokens}) for p in prompts])

        batched_texts = [c.text for c in asyncio.run(run())]
    else:
        batched_texts = [r.text for r in backend.generate("smollm2", prompts, settings)]
    batched = time.perf_counter() - t

    identical = batched_texts == [r.text for r in single]
    ratio = one_by_one / batched
    tokens = sum(r.completion_tokens for r in single)
    print(f"load {load_s:.1f} s; {args.n} prompts, max_tokens {args.max_tokens}, {tokens} tokens generated")
    print(f"one by one {one_by_one:.2f} s, batched {batched:.2f} s, ratio {ratio:.1f}x, identical {identical}")
    for i in range(min(3, args.n)):
        print(f"  {prompts[i][0]['content']!r} -> {single[i].text!r}")
    print()
    print("| what | one by one | batched | ratio | identical |")
    print("|---|---|---|---|---|")
    path = "complete() x N concurrent" if args.through_litellm else "one generate()"
    print(f"| local/smollm2, {args.n} prompts greedy, {path} | {one_by_one:.2f} s | {batched:.2f} s "
          f"| {ratio:.1f}x | {'yes' if identical else 'NO'} |")
    if not identical:
        sys.exit(1)


if __name__ == "__main__":
    main()
