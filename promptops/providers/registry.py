"""Which provider serves a model name, chosen by its prefix (``local/`` or anything else).

``local/<name>`` runs on this machine (:mod:`.local`: torch, batched in this process); ``echo``
answers with the prompt itself (:mod:`.echo`, promptfoo's echo provider: no model, no network); every other
name goes to litellm, which routes ``<vendor>/<model>`` itself. Callers ask here what a name implies
(where it runs, whether it costs money, how many calls to allow at once) instead of testing the
prefix themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ProviderSpec", "LOCAL", "LITELLM", "ECHO", "LOCAL_CONCURRENCY", "spec_for", "is_local"]

#: calls to one local model allowed at once: they queue in its batcher, so the cap only bounds memory
LOCAL_CONCURRENCY = 64


@dataclass(frozen=True)
class ProviderSpec:
    """What a provider's model names imply.

    ``in_process``: the model runs in this process (its provider batches the calls), so the runner
    keeps its calls here, out of the worker processes and the global limit.
    ``priced``: litellm may know a price per token; when False the call costs nothing (0.0).
    ``default_concurrency``: the per-model limit when promptops.yaml sets none (None: the run's).
    ``adapters``: names may carry ``+<adapter>`` after the base.
    ``queues``: calls wait in the provider's own queue (local batching) before they run; the
    per-call timeout is the provider's to apply to the running part, never to the wait.
    ``min_timeout``: the least timeout its calls get when promptops.yaml sets none for the model
    (a local batch on a busy CPU runs for minutes; ``timeout``'s 120 s is sized for API calls).
    """

    name: str
    prefix: str
    in_process: bool
    priced: bool
    default_concurrency: int | None
    adapters: bool

    exact: bool = False  # the name is the prefix itself (``echo``), not a prefix of names
    queues: bool = False
    min_timeout: float | None = None

    def matches(self, model: str) -> bool:
        return model == self.prefix if self.exact else model.startswith(self.prefix)

    def strip(self, model: str) -> str:
        """The provider's own name for ``model``: the prefix removed when it is there."""
        return model[len(self.prefix):] if self.prefix and model.startswith(self.prefix) else model

    def split(self, name: str) -> tuple[str, str | None]:
        """(base, adapter or None) of a provider's own name (after :meth:`strip`); the adapter
        is what follows the first ``+``."""
        if not self.adapters:
            return name, None
        base, _, adapter = name.partition("+")
        return base, adapter or None


LOCAL = ProviderSpec("local", "local/", in_process=True, priced=False,
                     default_concurrency=LOCAL_CONCURRENCY, adapters=True, queues=True, min_timeout=600.0)
LITELLM = ProviderSpec("litellm", "", in_process=False, priced=True, default_concurrency=None, adapters=False)
ECHO = ProviderSpec("echo", "echo", in_process=True, priced=False, default_concurrency=None, adapters=False,
                    exact=True)

_PREFIXED = (LOCAL, ECHO)  # tried in order; LITELLM takes the rest


def spec_for(model: str) -> ProviderSpec:
    """The provider that serves ``model``."""
    for spec in _PREFIXED:
        if spec.matches(model):
            return spec
    return LITELLM


def is_local(model: str) -> bool:
    """Whether ``model`` runs on this machine (``local/...``)."""
    return spec_for(model) is LOCAL
