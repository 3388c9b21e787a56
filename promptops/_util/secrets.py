"""Which values are secrets, and scrubbing them from text: one rule for the runner, the provider
errors, the server and the GitHub client.

A secret is the value of every well-known provider variable, of every ``*_API_KEY`` variable, of
every variable a model in the config names as its ``api_key_env``, and any value the caller knows
to be one (the call's key, the GitHub token). Values from the environment shorter than
:data:`MIN_LENGTH` are ignored: a placeholder like ``x`` would otherwise blank out every "x".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config

MASK = "***"
MIN_LENGTH = 4
WELL_KNOWN = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "AZURE_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY",
              "GROQ_API_KEY", "COHERE_API_KEY", "TOGETHERAI_API_KEY", "OPENROUTER_API_KEY", "HF_TOKEN",
              "GITHUB_TOKEN")


def secrets_of(config: Config | None = None, *, env: Mapping[str, str] | None = None,
               extra: Iterable[str | None] = ()) -> list[str]:
    """Values that must never be written anywhere, longest first (see the module docstring).

    ``env`` defaults to ``os.environ``; ``extra`` values are kept whatever their length (only
    empty ones are dropped).
    """
    env = os.environ if env is None else env
    names = set(WELL_KNOWN) | {name for name in env if name.endswith("_API_KEY")}
    if config is not None:
        names |= {o.api_key_env for o in config.models.values() if o.api_key_env}
    found = {v for name in names if (v := env.get(name)) and len(v) >= MIN_LENGTH}
    found |= {v for v in extra if v}
    # longest first: a secret that contains another must go before the shorter one breaks it up
    return sorted(found, key=lambda v: (-len(v), v))


@overload
def redact(text: str, secrets: Iterable[str]) -> str: ...
@overload
def redact(text: None, secrets: Iterable[str]) -> None: ...


def redact(text: str | None, secrets: Iterable[str]) -> str | None:
    """``text`` with every secret replaced by ``***`` (None stays None).

    Redact the whole text before cutting it to a length: a secret across the cut would otherwise
    survive in part.
    """
    if text is None:
        return None
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text
