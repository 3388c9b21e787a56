"""Model calls: litellm's compiled plans (:mod:`.fastpath`) where parity tests cover the provider,
``litellm.acompletion`` for everything else; setup, price registration, call arguments, the result.

litellm is imported only inside :func:`setup_litellm` (the first call), so importing this module
is cheap and a fully cached eval never imports litellm at all.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from .._util.lazy import collector_paused
from ..errors import ModelError
from . import fastpath, plancache
from .errors import ProviderError, to_provider_error
from ..localmodels.resolve import with_adapter_path
from .echo import echo_answer
from .pricing import custom_cost
from .registry import ECHO, LOCAL, is_local, spec_for
from .toolcalls import normalize

__all__ = ["Completion", "complete", "setup_litellm", "needs_litellm"]


@dataclass
class Completion:
    """One model answer: text, token counts, cost (None when the price is unknown), latency, and
    the tool calls (OpenAI's shape, see :mod:`.toolcalls`) and finish reason when the provider gave them."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float
    model: str
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    queue_ms: float | None = None  # embedded (batched) models: the part of latency_ms spent waiting for its batch


_LITELLM: Any = None
_UNPRICED: set[str] = set()  # litellm names litellm has no price for (registered at 0, reported as None)
_PRICE_CHECKED: set[str] = set()


_FULL_LOGGING = False  # Config.litellm_full_logging of the latest setup_litellm(config)


def litellm_loaded() -> bool:
    """Whether :func:`setup_litellm` has finished in this process (a call no longer waits for the import)."""
    return _LITELLM is not None


def setup_litellm(config: Any = None) -> Any:
    """Import and configure litellm once: quiet, no telemetry, ``local/`` registered, and the
    per-call success logging skipped while no litellm callback is registered (see
    :func:`_skip_idle_success_logging`).

    ``config``: its ``litellm_full_logging`` (``PROMPTOPS_LITELLM_FULL_LOGGING``) keeps that
    logging on in this process from now on, or turns the skip back on; without a config (a
    forkserver preload, say) the setting stays as it was: skipped by default."""
    global _LITELLM, _FULL_LOGGING
    if config is not None:
        _FULL_LOGGING = bool(getattr(config, "litellm_full_logging", False))
    if _LITELLM is not None:
        return _LITELLM
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch prices at import
    with collector_paused():
        import litellm

    from .local import LocalHandler  # it subclasses litellm's CustomLLM: imported with litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.turn_off_message_logging = True
    litellm.num_retries = None
    if not os.environ.get("LITELLM_LOG"):
        # litellm warns per call about zero-priced models and re-logs every provider error;
        # promptops reports both itself
        logging.getLogger("LiteLLM").setLevel(logging.ERROR)
    litellm.custom_provider_map = [
        item for item in litellm.custom_provider_map if item.get("provider") != LOCAL.name
    ] + [{"provider": LOCAL.name, "custom_handler": LocalHandler()}]
    _skip_idle_success_logging(litellm)
    _LITELLM = litellm
    return litellm


def _skip_idle_success_logging(litellm: Any) -> None:
    """Skip litellm's async success logging while no callback would receive it (the plain
    ``acompletion`` path only: compiled plans never start it).

    After every call litellm builds a "standard logging payload" (a second cost calculation,
    redaction, deep copies) on a background task even when no callback is registered: a third of
    a call's CPU, measured with cProfile against the fake server. The wrapper does nothing
    while litellm's callback lists are empty and calls the original as soon as one is set, or
    while ``litellm_full_logging`` is on (``PROMPTOPS_LITELLM_FULL_LOGGING=1``)."""
    import litellm.utils as lu

    original = getattr(lu, "_client_async_logging_helper", None)
    if original is None or getattr(original, "_promptops_wrapped", False):
        return  # another litellm version: nothing to skip

    def has_callbacks() -> bool:
        return any(getattr(litellm, name, None) for name in (
            "callbacks", "success_callback", "_async_success_callback", "input_callback",
            "service_callback", "failure_callback", "_async_failure_callback"))

    async def helper(*args: Any, **kwargs: Any) -> None:
        if _FULL_LOGGING or has_callbacks():
            await original(*args, **kwargs)

    helper._promptops_wrapped = True  # type: ignore[attr-defined]
    lu._client_async_logging_helper = helper


def _ensure_priced(litellm: Any, target: str) -> None:
    """Give a model litellm cannot price a zero price, once, and remember it as unpriced.

    For a model missing from litellm's price map, litellm's cost calculation after every call
    walks its fallbacks (generalizations, provider prefixes) before giving up: about a fifth of
    a call's CPU. Registered at price 0 it is one lookup; promptops reports its cost as None."""
    _PRICE_CHECKED.add(target)
    spec = spec_for(target)
    if not spec.priced:
        priced = False
    else:
        try:
            info = litellm.get_model_info(target)
            priced = info.get("input_cost_per_token") is not None
        except Exception:  # noqa: BLE001 - litellm raises plain Exception for unknown models
            priced = False
    if priced:
        return
    if spec.priced:  # a free model's cost is 0.0, not unknown
        _UNPRICED.add(target)
    provider = target.split("/", 1)[0] if "/" in target else "openai"
    try:
        litellm.register_model({target: {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
                                         "litellm_provider": provider, "mode": "chat"}},
                               add_to_provider_model_sets=False)
    except Exception:  # noqa: BLE001 - only a speed-up; litellm still works without it
        pass


def _options(model: str, config: Any) -> Any:
    if config is None:
        return None
    return config.model_options(model)


def call_kwargs(model: str, params: dict, config: Any) -> tuple[str, dict[str, Any]]:
    """The litellm model name and keyword arguments, from promptops.yaml and the call's params."""
    opts = _options(model, config)
    kwargs: dict[str, Any] = {}
    target = model
    timeout = getattr(config, "timeout", None)
    if opts is not None:
        target = opts.model or model
        if opts.api_base:
            kwargs["api_base"] = opts.api_base
        if opts.api_key_env:
            key = os.environ.get(opts.api_key_env)
            if not key:
                raise ProviderError(
                    "auth", f"environment variable {opts.api_key_env} is not set", retryable=False,
                    model=model, hint=f"export {opts.api_key_env}=<your key> (promptops.yaml: "
                                      f"models.{model}.api_key_env)")
            kwargs["api_key"] = key
        if opts.timeout:
            timeout = opts.timeout
        kwargs.update(opts.params)
    floor = spec_for(target).min_timeout
    if floor and not (opts is not None and opts.timeout):
        timeout = max(timeout or 0.0, floor)
    kwargs.update(params or {})
    if timeout and "timeout" not in kwargs:
        kwargs["timeout"] = timeout
    kwargs["num_retries"] = 0  # litellm passes this on as the OpenAI SDK's max_retries (default 2)
    return target, kwargs


async def complete(model: str, messages: list[dict], params: dict | None = None, *,
                   config: Any = None) -> Completion:
    """Call ``model`` once: :func:`_complete`, priced by ``promptops.yaml`` where the model has a
    ``price`` (:mod:`.pricing`)."""
    done = await _complete(model, messages, params, config=config)
    cost = custom_cost(config, model, done.prompt_tokens, done.completion_tokens)
    if cost is not None:
        done.cost_usd = cost
    return done


async def _complete(model: str, messages: list[dict], params: dict | None = None, *,
                    config: Any = None) -> Completion:
    """Call ``model`` once (no retries) and return a Completion: through litellm's compiled plan
    (:mod:`.fastpath`) where the provider is on its allowlist and ``config.litellm_direct`` is on
    (the default), else through ``litellm.acompletion``.

    ``config`` is a :class:`promptops.config.Config` (or None for litellm's own environment
    variables only); its ``models[model]`` entry may rename the model and set ``api_base``,
    ``api_key_env``, ``timeout`` and extra ``params``. Raises :class:`ProviderError`.
    """
    target, kwargs = call_kwargs(model, params or {}, config)
    if spec_for(target) is ECHO:  # promptfoo's echo: no litellm, no network
        return Completion(**echo_answer(model, messages))
    secret = kwargs.get("api_key")
    if _LITELLM is None and getattr(config, "litellm_direct", False) and plancache.plain_messages(messages):
        disk = plancache.lookup(config, target, kwargs)
        if disk is not None:
            done = await _from_disk(disk, model, target, messages, kwargs, config)
            if done is not None:
                return done
    litellm = setup_litellm(config)
    if config is not None and is_local(target):
        try:  # litellm calls the handler without the config
            target = with_adapter_path(target, config.adapter_dirs, config)
        except ModelError as exc:  # the job's adapter is gone: a failed call, as the handler would say
            raise ProviderError("not_found", exc.one_line(), retryable=False, model=model) from None
    elif getattr(config, "litellm_direct", True):
        start = time.perf_counter()
        try:
            plan = fastpath.plan_for(litellm, target, kwargs)
            if plan is not None:
                response = await fastpath.send(litellm, plan, [dict(m) for m in messages], kwargs.get("timeout"))
                latency_ms = (time.perf_counter() - start) * 1000.0
                path = plancache.where(config)
                if path is not None and path not in plan.extra.setdefault("stored", set()):
                    plan.extra["stored"].add(path)  # tried once per plan and project
                    plancache.store(config, target, kwargs, plan, await fastpath.passthrough(plan))
                return _completion(response, model, target, latency_ms, fastpath.cost_of(litellm, plan, response))
        except ProviderError:
            raise
        except Exception as exc:  # noqa: BLE001 - every provider failure becomes a ProviderError
            raise to_provider_error(exc, model, secret) from None
    if target not in _PRICE_CHECKED and "input_cost_per_token" not in kwargs:
        _ensure_priced(litellm, target)
    start = time.perf_counter()
    try:
        # a copy per call: one rendered list serves every model of a case, and providers may edit theirs
        response = await litellm.acompletion(model=target, messages=[dict(m) for m in messages], **kwargs)
        latency_ms = (time.perf_counter() - start) * 1000.0
        return _completion(response, model, target, latency_ms, _cost(response, target))  # a malformed answer fails here too
    except ProviderError:
        raise
    except Exception as exc:  # noqa: BLE001 - every provider failure becomes a ProviderError
        raise to_provider_error(exc, model, secret) from None


async def _from_disk(disk: plancache.DiskPlan, model: str, target: str, messages: list[dict],
                     kwargs: dict[str, Any], config: Any) -> Completion | None:
    """A call on a plan stored on disk (:mod:`.plancache`), litellm not imported: a plain text
    answer becomes the Completion here; anything else (an error, a timeout, tool calls, special
    usage) imports litellm, whose full plan reads the same answer (no second request). None when
    litellm then declines the plan (a callback set meanwhile): the caller sends the call again."""
    start = time.perf_counter()
    body = disk.body([dict(m) for m in messages])
    sent = await fastpath.post(disk.url, disk.headers, json.dumps(body).encode(), kwargs.get("timeout"))
    latency_ms = (time.perf_counter() - start) * 1000.0
    got = plancache.simple_answer(sent.raw) if sent.status == 200 else None
    if got is not None:
        text, prompt_tokens, completion_tokens = got
        cost = None if disk.prices is None else prompt_tokens * disk.prices[0] + completion_tokens * disk.prices[1]
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          cost_usd=cost, latency_ms=latency_ms, model=model)
    litellm = setup_litellm(config)
    try:
        plan = fastpath.plan_for(litellm, target, kwargs)
        if plan is None:
            return None
        response = fastpath.answer(litellm, plan, sent, messages, body, timeout=kwargs.get("timeout"))
        return _completion(response, model, target, latency_ms, fastpath.cost_of(litellm, plan, response))
    except ProviderError:
        raise
    except Exception as exc:  # noqa: BLE001 - every provider failure becomes a ProviderError
        raise to_provider_error(exc, model, kwargs.get("api_key")) from None


def needs_litellm(config: Any, calls: Any) -> bool:
    """Whether these calls (each with ``model`` and ``params``) need litellm imported: False when
    every one has a plan on disk (:mod:`.plancache`), so the runner skips the import at start-up."""
    if _LITELLM is not None or not getattr(config, "litellm_direct", False):
        return True
    seen: set[str] = set()
    for call in calls:
        key = json.dumps([call.model, call.params], sort_keys=True, default=repr)
        if key in seen:
            continue
        seen.add(key)
        if is_local(call.model):
            return True
        try:
            target, kwargs = call_kwargs(call.model, call.params or {}, config)
        except ProviderError:
            return True
        if plancache.lookup(config, target, kwargs) is None:
            return True
    return False


def _completion(response: Any, model: str, target: str, latency_ms: float, cost: float | None) -> Completion:
    choice = response.choices[0]
    text = getattr(choice.message, "content", None) or ""
    usage = getattr(response, "usage", None)
    prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
    queue_ms = (getattr(response, "_hidden_params", None) or {}).get("local_queue_ms")
    return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      cost_usd=cost, latency_ms=latency_ms, model=model,
                      tool_calls=normalize(getattr(choice.message, "tool_calls", None)),
                      finish_reason=getattr(choice, "finish_reason", None),
                      queue_ms=float(queue_ms) if isinstance(queue_ms, (int, float)) else None)


def _cost(response: Any, target: str) -> float | None:
    """The call's price as litellm computed it; None when litellm has no price for the model."""
    if not spec_for(target).priced:
        return 0.0
    if target in _UNPRICED:
        return None
    hidden = getattr(response, "_hidden_params", None) or {}
    cost = hidden.get("response_cost")
    return float(cost) if cost is not None else None
