"""The ``local/`` provider: on-machine models through a litellm ``CustomLLM``.

Model names (the part after ``local/``):

- ``smollm2``: the embedded SmolLM2-135M-Instruct GGUF (:func:`promptops.localmodels.smollm2_gguf`);
- ``<path>``: a Hugging Face model folder or a ``.gguf`` file;
- ``<base>+<adapter>``: a peft (LoRA) adapter on a base; the adapter is a folder path or an id
  found under the config's ``adapter_dirs`` (``<state_dir>/adapters/<id>``): :func:`complete`
  passes its config's, a call without a config uses the project found from the working directory
  (:mod:`promptops.localmodels.resolve`).

Requests that arrive together (collected for ``batching.COLLECT_S`` seconds, up to
``batching.MAX_BATCH``) with the same generation settings become one left-padded ``generate`` call
(:func:`promptops.localmodels.generate`), run in a worker thread so the event loop keeps serving.
Greedy (``temperature`` 0, the default) batched answers equal one-by-one answers. With
``temperature`` > 0 and a ``seed``, ``torch.manual_seed(seed)`` is set per batch, so sampling is
reproducible for the same batch composition only (the same requests arriving together); it is not
per request. Models load once per process and stay loaded.

This module imports litellm (it subclasses its ``CustomLLM``); it is imported by
:func:`promptops.providers.setup_litellm`. torch, transformers and peft are imported only when a
model is first loaded.
"""

from __future__ import annotations

import asyncio
import threading
import time
import weakref
from typing import Any, Protocol

import litellm
from litellm import CustomLLM
from litellm.types.utils import ModelResponse

from .. import localmodels
from ..errors import ModelError
from ..localmodels.resolve import resolve_adapter, resolve_base, with_adapter_path
from .batching import DEFAULT_MAX_TOKENS, Batcher, GenResult, GenSettings, settings_from_params
from .registry import LOCAL

__all__ = ["LocalHandler", "TorchBackend", "Backend", "set_backend", "get_backend",
           "batcher_for", "resolve_adapter", "resolve_base", "with_adapter_path", "DEFAULT_MAX_TOKENS"]


class Backend(Protocol):
    """Generates answers for a batch of chat requests; called in a worker thread."""

    def generate(self, model: str, batch: list[list[dict]], settings: GenSettings) -> list[GenResult]: ...


class _Loaded:
    def __init__(self, model: Any, tokenizer: Any):
        self.model = model
        self.tokenizer = tokenizer
        self.lock = threading.Lock()


class TorchBackend:
    """transformers (+ peft) models, loaded once per process and cached by name."""

    def __init__(self) -> None:
        self._models: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def load(self, name: str) -> _Loaded:
        """The loaded model for a provider name (``<base>[+<adapter>]``), loading it on first use."""
        with self._lock:
            loaded = self._models.get(name)
            if loaded is None:
                base, adapter = LOCAL.split(name)
                loaded = self._models[name] = _Loaded(*localmodels.load(base, adapter))
            return loaded

    def generate(self, model: str, batch: list[list[dict]], settings: GenSettings) -> list[GenResult]:
        import torch

        loaded = self.load(model)
        with loaded.lock, torch.inference_mode():
            out = localmodels.generate(loaded.model, loaded.tokenizer, batch, max_new_tokens=settings.max_tokens,
                                       temperature=settings.temperature, top_p=settings.top_p, seed=settings.seed)
        return [GenResult(g.text, g.prompt_tokens, g.completion_tokens, g.finish_reason) for g in out]


_BACKEND: Backend | None = None


def get_backend() -> Backend:
    global _BACKEND
    if _BACKEND is None:
        _BACKEND = TorchBackend()
    return _BACKEND


def set_backend(backend: Backend | None) -> None:
    """Replace the generation backend (tests inject a fake one; None restores torch)."""
    global _BACKEND
    _BACKEND = backend
    _HANDLER_BATCHERS.clear()


# --------------------------------------------------------------------------- litellm handler

_HANDLER_BATCHERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def batcher_for(model: str) -> Batcher:
    """The batcher of ``model`` on the running event loop."""
    loop = asyncio.get_running_loop()
    per_loop = _HANDLER_BATCHERS.get(loop)
    if per_loop is None:
        per_loop = _HANDLER_BATCHERS[loop] = {}
    batcher = per_loop.get(model)
    if batcher is None:
        backend = get_backend()
        batcher = per_loop[model] = Batcher(lambda batch, s: backend.generate(model, batch, s))
    return batcher


def _seconds(timeout: Any) -> float | None:
    """litellm hands the call's timeout as a number or an httpx.Timeout-like object (or None)."""
    if timeout is None or isinstance(timeout, (int, float)):
        return float(timeout) if timeout else None
    read = getattr(timeout, "read", None)
    return float(read) if read else None


class LocalHandler(CustomLLM):
    """litellm custom provider ``local``: ``litellm.acompletion(model="local/<name>")``."""

    async def acompletion(self, model: str, messages: list, api_base: Any, custom_prompt_dict: Any,
                          model_response: ModelResponse, print_verbose: Any, encoding: Any, api_key: Any,
                          logging_obj: Any, optional_params: dict, acompletion: Any = None,
                          litellm_params: Any = None, logger_fn: Any = None, headers: Any = None,
                          timeout: Any = None, client: Any = None) -> ModelResponse:
        settings, stop = settings_from_params(optional_params or {})
        start = time.perf_counter()
        try:
            result = await batcher_for(model).submit(list(messages), settings, stop, timeout=_seconds(timeout))
        except asyncio.TimeoutError:
            raise litellm.Timeout(message=f"generation took over {_seconds(timeout):g} s", model=model,
                                  llm_provider=LOCAL.name) from None
        except ModelError as exc:
            raise litellm.NotFoundError(message=exc.one_line(), model=model, llm_provider=LOCAL.name) from None
        model_response.choices[0].message.content = result.text  # type: ignore[union-attr]
        model_response.choices[0].finish_reason = result.finish_reason
        model_response.model = LOCAL.prefix + model
        model_response.usage = litellm.Usage(  # type: ignore[attr-defined]
            prompt_tokens=result.prompt_tokens, completion_tokens=result.completion_tokens,
            total_tokens=result.prompt_tokens + result.completion_tokens)
        model_response._hidden_params["response_cost"] = 0.0
        model_response._hidden_params["local_generate_ms"] = (time.perf_counter() - start) * 1000
        model_response._hidden_params["local_queue_ms"] = result.queue_ms  # waiting for its batch to start
        return model_response

    def completion(self, *args: Any, **kwargs: Any) -> ModelResponse:
        """Synchronous ``litellm.completion``: runs the async path on a private loop."""
        return asyncio.run(self.acompletion(*args, **kwargs))
