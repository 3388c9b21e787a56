"""Custom model prices from ``promptops.yaml`` (``models.<name>.price``), for models litellm does
not price (a self-hosted or fine-tuned model, a new release): applied to every answer of
:func:`promptops.providers.complete`, whichever path made it (compiled plan, plan on disk,
``litellm.acompletion``), and again by the runner to cached answers, so a price added later also
prices an eval answered from the cache. A configured price wins over litellm's own."""

from __future__ import annotations

from typing import Any


def custom_cost(config: Any, model: str, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
    """The call's cost at the price configured for ``model`` (the name used in ``models:``), or
    None when none is configured (or the token counts are unknown)."""
    models = getattr(config, "models", None) or {}
    opts = models.get(model)
    price = getattr(opts, "price", None)
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    per_input, per_output = price.per_token()
    return prompt_tokens * per_input + completion_tokens * per_output
