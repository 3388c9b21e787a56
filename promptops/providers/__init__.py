"""The one model call path, :func:`complete`: litellm's compiled plans, ``litellm.acompletion``, the
``local/`` provider.

- :mod:`.registry`: which provider a model name belongs to (by prefix) and what that implies;
- :mod:`.litellm`: :func:`complete` and :func:`setup_litellm`;
- :mod:`.fastpath`: plans litellm compiles once per model and parameters, sent through one aiohttp
  session (the providers with parity tests; everything else stays on ``litellm.acompletion``);
- :mod:`.plancache`: the plans litellm shows to be plain pass-throughs, on disk, so that a small
  eval need not import litellm;
- :mod:`.errors`: :class:`ProviderError`, its kinds, and which kinds are retryable;
- :mod:`.local`: the ``local/`` handler (on-machine models, :mod:`promptops.localmodels`), with
  :mod:`.batching`.

This package is the only place that imports litellm, and it does so lazily (inside
:func:`complete`), so ``import promptops.providers`` stays cheap and a fully cached eval never
imports litellm at all.

Retries belong to the caller (the runner): every call here is made with ``num_retries=0`` and the
OpenAI client's own retries off, and failures come back as :class:`ProviderError` with a ``kind``,
whether retrying can help, and the provider's ``Retry-After``.
"""

from __future__ import annotations

from .errors import KINDS, RETRYABLE, ProviderError, classify
from . import fastpath
from .litellm import Completion, complete, needs_litellm, setup_litellm
from .registry import LITELLM, LOCAL, ProviderSpec, is_local, spec_for

__all__ = ["Completion", "ProviderError", "complete", "setup_litellm", "needs_litellm", "fastpath", "KINDS", "RETRYABLE", "classify",
           "ProviderSpec", "LOCAL", "LITELLM", "spec_for", "is_local"]
