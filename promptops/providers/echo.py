"""The ``echo`` model: answers with the prompt itself (promptfoo's ``echo`` provider).

No litellm, no network, no cost: for checking a suite's plumbing (variables, templating,
assertions) before paying for a model, and for suites imported from promptfoo that use ``echo``.
The answer is the rendered prompt as promptfoo would send it as text: the content of the only
message, or, for several messages, their JSON list (``[{"role": ..., "content": ...}, ...]``,
the form of a promptfoo JSON-chat prompt). Token counts are word counts.
"""

from __future__ import annotations

import json
import time
from typing import Any


def echo_text(messages: list[dict[str, Any]]) -> str:
    if len(messages) == 1 and isinstance(messages[0].get("content"), str):
        return messages[0]["content"]
    return json.dumps([{"role": m.get("role"), "content": m.get("content")} for m in messages], ensure_ascii=False)


def echo_answer(model: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The fields of the :class:`~.litellm.Completion` the echo model gives."""
    start = time.perf_counter()
    text = echo_text(messages)
    words = sum(len(str(m.get("content") or "").split()) for m in messages)
    return {"text": text, "prompt_tokens": words, "completion_tokens": len(text.split()), "cost_usd": 0.0,
            "latency_ms": (time.perf_counter() - start) * 1000.0, "model": model, "finish_reason": "stop"}
