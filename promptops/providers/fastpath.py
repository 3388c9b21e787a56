"""litellm as the compiler, not the sender: compiled call plans sent through one aiohttp session.

``litellm.acompletion`` spends about 4 ms of CPU per call on its send path (a thread-pool hop, the
OpenAI SDK over httpx over aiohttp, cost calculated twice, logging objects), not on the work that
makes litellm useful. Here litellm still decides everything, but once per plan:

- once per (model, api_base, key, params) — a :class:`Plan`: the provider
  (``get_llm_provider``), its chat config (``ProviderConfigManager.get_provider_chat_config``), the
  mapped parameters (``get_optional_params``: ``drop_params`` and unsupported-parameter errors as
  litellm raises them), the URL (``get_complete_url``), the auth headers
  (``validate_environment``) and the per-token prices (``get_model_info``);
- per call: litellm's own request transform, the response transform into the same
  ``ModelResponse``, and litellm's error mapping (``get_error_class`` + ``exception_type``) into
  the same exception classes; the request goes out through one ``aiohttp.ClientSession`` per event
  loop (the transport litellm itself uses).

Only providers with parity tests against ``litellm.acompletion`` (tests/test_fastpath.py) are on
:data:`ALLOWED`; everything else, and any call with a parameter, callback, cache or setting the
plan does not replay, goes to ``litellm.acompletion`` unchanged (:func:`plan_for` returns None).
litellm and aiohttp are imported lazily, with the first plan.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import weakref
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALLOWED", "OPENAI_WIRE", "Plan", "Sent", "plan_for", "request", "post", "send", "answer", "passthrough",
           "cost_of", "supported"]

#: providers litellm sends through the OpenAI SDK that the parity tests cover; their request and
#: response are the OpenAI chat wire (litellm's provider config transforms them). Not here: those
#: litellm sends through its own HTTP handler (groq, deepseek, together_ai, xai, hosted_vllm,
#: fireworks_ai, mistral, openrouter), and deepinfra, nvidia_nim and sambanova, whose SDK clients
#: retry 429/500 on their own under acompletion (``num_retries=0`` does not reach them).
OPENAI_WIRE = frozenset({"openai", "custom_openai", "lm_studio", "litellm_proxy", "perplexity", "cerebras",
                         "nebius"})
#: providers on the fast path: the OpenAI wire above, and anthropic (its own config and handler)
ALLOWED = OPENAI_WIRE | {"anthropic"}

#: call parameters a plan replays: litellm's OpenAI-style parameters (mapped per provider by
#: ``get_optional_params``) and the connection settings promptops passes. Any other key (stream,
#: mock_response, fallbacks, caching, metadata, custom prices, ...) keeps the call on acompletion.
_PARAMS = frozenset({
    "temperature", "top_p", "n", "stop", "max_tokens", "max_completion_tokens", "presence_penalty",
    "frequency_penalty", "logit_bias", "user", "response_format", "seed", "tools", "tool_choice",
    "logprobs", "top_logprobs", "parallel_tool_calls", "reasoning_effort", "top_k"})
_CONNECTION = frozenset({"api_base", "api_key", "timeout", "num_retries", "drop_params", "extra_headers"})
_CALLBACK_LISTS = ("callbacks", "success_callback", "_async_success_callback", "input_callback",
                   "service_callback", "failure_callback", "_async_failure_callback")


@dataclass
class Plan:
    """What litellm decided for one (model, api_base, key, params): replayed on every call."""

    target: str                      # the name promptops was given (litellm's "<provider>/<model>")
    provider: str
    model: str                       # the provider's own model name
    config: Any                      # litellm's provider chat config (a BaseConfig)
    url: str
    headers: dict[str, str]
    optional_params: dict[str, Any]  # litellm's mapped parameters
    api_key: str | None
    api_base: str | None
    prices: tuple[float, float] | None  # (input, output) USD per token; None: litellm has none
    drop_params: bool | None = None
    wire: str = "openai"             # "openai" or "anthropic"
    extra: dict[str, Any] = field(default_factory=dict)


_PLANS: dict[tuple, Plan | None] = {}


def supported(target: str, kwargs: dict[str, Any]) -> bool:
    """Whether a call could take the fast path at all (cheap, before any plan is built)."""
    if any(key not in _PARAMS and key not in _CONNECTION for key in kwargs):
        return False
    provider = target.split("/", 1)[0] if "/" in target else "openai"
    return provider in ALLOWED or "/" not in target


def _litellm_untouched(litellm: Any) -> bool:
    """No callback, cache or budget set on litellm: nothing a plan would skip."""
    if any(getattr(litellm, name, None) for name in _CALLBACK_LISTS):
        return False
    return getattr(litellm, "cache", None) is None and getattr(litellm, "max_budget", 0) in (0, 0.0, None)


def _key(target: str, kwargs: dict[str, Any]) -> tuple:
    return (target, json.dumps({k: v for k, v in kwargs.items() if k not in ("timeout", "num_retries")},
                               sort_keys=True, default=repr))


def plan_for(litellm: Any, target: str, kwargs: dict[str, Any]) -> Plan | None:
    """The compiled plan for this call, or None when it stays on ``litellm.acompletion``.

    Raises litellm's own exception when litellm refuses the parameters (``UnsupportedParamsError``
    and the like), exactly where ``acompletion`` would."""
    if not supported(target, kwargs) or not _litellm_untouched(litellm):
        return None
    key = _key(target, kwargs)
    if key in _PLANS:
        return _PLANS[key]
    plan = _compile(litellm, target, kwargs)
    _PLANS[key] = plan
    return plan


def _call(fn: Any, **kwargs: Any) -> Any:
    """Call a litellm method with the keywords its signature takes (older versions lack some)."""
    try:
        names = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn(**kwargs)
    if any(p.kind is p.VAR_KEYWORD for p in names.values()):
        return fn(**kwargs)
    return fn(**{k: v for k, v in kwargs.items() if k in names})


def _compile(litellm: Any, target: str, kwargs: dict[str, Any]) -> Plan | None:
    from litellm.utils import ProviderConfigManager, get_optional_params

    api_base, api_key = kwargs.get("api_base"), kwargs.get("api_key")
    model, provider, dynamic_key, resolved_base = litellm.get_llm_provider(
        model=target, api_base=api_base, api_key=api_key)
    if provider not in ALLOWED:
        return None
    info = _model_info(litellm, model, provider)
    if info.get("mode") not in (None, "chat"):
        return None  # litellm bridges these (the responses API, say): not a chat-completions call
    config = ProviderConfigManager.get_provider_chat_config(model=model, provider=litellm.LlmProviders(provider))
    if config is None:
        return None
    params = {k: v for k, v in kwargs.items() if k in _PARAMS}
    drop = kwargs.get("drop_params")
    optional = get_optional_params(model=model, custom_llm_provider=provider, drop_params=drop, **params)
    optional.pop("max_retries", None)  # the OpenAI SDK's retries: promptops retries itself
    extra_headers = dict(kwargs.get("extra_headers") or {})
    if provider == "anthropic":
        return _anthropic_plan(litellm, target, model, config, optional, api_base, api_key, extra_headers, info, drop)
    key = dynamic_key or api_key or litellm.api_key or litellm.openai_key or os.environ.get("OPENAI_API_KEY")
    base = (resolved_base or litellm.api_base or os.environ.get("OPENAI_BASE_URL")
            or os.environ.get("OPENAI_API_BASE") or "https://api.openai.com/v1")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    organization = litellm.organization or os.environ.get("OPENAI_ORGANIZATION")
    if provider == "openai" and organization:
        headers["OpenAI-Organization"] = organization
    headers.update(extra_headers)
    return Plan(target=target, provider=provider, model=model, config=config,
                url=base.rstrip("/") + "/chat/completions", headers=headers, optional_params=optional,
                api_key=key, api_base=base, prices=_prices(info), drop_params=drop, wire="openai")


def _anthropic_plan(litellm: Any, target: str, model: str, config: Any, optional: dict, api_base: str | None,
                    api_key: str | None, extra_headers: dict, info: dict, drop: bool | None) -> Plan:
    key = api_key or litellm.anthropic_key or litellm.api_key or os.environ.get("ANTHROPIC_API_KEY")
    base = (api_base or litellm.api_base or os.environ.get("ANTHROPIC_API_BASE")
            or os.environ.get("ANTHROPIC_BASE_URL") or "https://api.anthropic.com/v1/messages")
    if not os.environ.get("LITELLM_ANTHROPIC_DISABLE_URL_SUFFIX", "").lower() in ("1", "true"):
        base = _ensure_route(base, "v1/messages")  # litellm's main.py default route (not in the config)
    optional.pop("stream", None)
    optional.pop("json_mode", None)
    plan = Plan(target=target, provider="anthropic", model=model, config=config, url=base, headers={},
                optional_params=optional, api_key=key, api_base=base, prices=_prices(info), drop_params=drop,
                wire="anthropic", extra={"extra_headers": extra_headers})
    plan.headers = _anthropic_headers(plan, [{"role": "user", "content": "x"}])
    return plan


def _ensure_route(base: str, route: str) -> str:
    try:
        from litellm.main import ensure_api_route  # litellm's own rule (main.py, not the provider config)
    except ImportError:
        base = base.rstrip("/")
        return base if base.endswith(route) else f"{base}/{route}"
    return ensure_api_route(base, route)


def _anthropic_headers(plan: Plan, messages: list[dict]) -> dict[str, str]:
    return _call(plan.config.validate_environment, api_key=plan.api_key, headers=dict(plan.extra["extra_headers"]),
                 model=plan.model, messages=messages,
                 optional_params={**plan.optional_params, "is_vertex_request": False},
                 litellm_params=_litellm_params(plan), api_base=plan.api_base)


def _model_info(litellm: Any, model: str, provider: str) -> dict:
    try:
        return dict(litellm.get_model_info(model=model, custom_llm_provider=provider) or {})
    except Exception:  # noqa: BLE001 - litellm raises plain Exception for a model it has no entry for
        return {}


def _prices(info: dict) -> tuple[float, float] | None:
    inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if inp is None or out is None:
        return None
    return float(inp), float(out)


def _litellm_params(plan: Plan) -> dict[str, Any]:
    return {"api_base": plan.api_base, "api_key": plan.api_key, "drop_params": plan.drop_params,
            "custom_llm_provider": plan.provider}


# ----------------------------------------------------------------------------- per call


class _Log:
    """What litellm's transforms expect of their logging object, doing nothing."""

    def __init__(self) -> None:
        self.model_call_details: dict[str, Any] = {}
        self.optional_params: dict[str, Any] = {}

    def pre_call(self, *args: Any, **kwargs: Any) -> None:
        pass

    post_call = pre_call


_SESSIONS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, asyncio.Task]]" = \
    weakref.WeakKeyDictionary()


def _session() -> Any:
    """One aiohttp session per event loop. A keeper task closes it when the loop ends
    (``asyncio.run`` cancels the tasks still pending, and the keeper's ``finally`` runs then)."""
    import aiohttp

    loop = asyncio.get_running_loop()
    entry = _SESSIONS.get(loop)
    if entry is None or entry[0].closed:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
        session = aiohttp.ClientSession(connector=connector, trust_env=True)
        entry = (session, loop.create_task(_keep(session), name="promptops-http-session"))
        _SESSIONS[loop] = entry
    return entry[0]


async def _keep(session: Any) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        await session.close()


async def close_sessions() -> None:
    """Close this event loop's session now (tests; a loop's end closes it anyway)."""
    entry = _SESSIONS.pop(asyncio.get_running_loop(), None)
    if entry is not None:
        entry[1].cancel()
        await entry[0].close()


@dataclass
class Sent:
    """One request as sent and its answer as received (litellm not needed to hold it)."""

    status: int | None               # None: no answer (``error`` says why)
    headers: dict[str, str]
    raw: bytes
    error: BaseException | None = None  # a timeout (asyncio.TimeoutError) or a connection failure


async def post(url: str, headers: dict[str, str], body: bytes, timeout: float | None) -> Sent:
    """POST ``body`` through this loop's session; transport failures come back in ``Sent.error``."""
    import aiohttp

    try:
        async with _session().post(url, data=body, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            return Sent(resp.status, dict(resp.headers), await resp.read())
    except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
        return Sent(None, {}, b"", exc)


async def request(plan: Plan, messages: list[dict]) -> tuple[dict[str, str], dict, dict, dict]:
    """litellm's request transform for ``messages``: (headers, body, optional params, litellm params)."""
    litellm_params = _litellm_params(plan)
    optional = dict(plan.optional_params)
    if plan.wire == "anthropic":
        plain = all(isinstance(m.get("content"), str) for m in messages)
        headers = plan.headers if plain else _anthropic_headers(plan, messages)
        data = await plan.config.async_transform_request(
            model=plan.model, messages=messages, optional_params={**optional, "is_vertex_request": False},
            litellm_params=litellm_params, headers=headers)
        headers, data = _anthropic_finish(plan, headers, data, litellm_params)
    else:
        data = await plan.config.async_transform_request(
            model=plan.model, messages=messages, optional_params=optional, litellm_params=litellm_params,
            headers={})
        data, headers = _as_sdk_sends(data, plan.headers)
    return headers, data, optional, litellm_params


async def passthrough(plan: Plan) -> dict | None:
    """The body's parameters when litellm's request transform leaves plain text messages as they
    are (the body is ``{"model", "messages", **parameters}``, what :mod:`.plancache` may replay
    without litellm); None when it does anything else."""
    if plan.wire != "openai":
        return None
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
             {"role": "assistant", "content": "a"}, {"role": "user", "content": "v"}]
    headers, data, _, _ = await request(plan, [dict(m) for m in probe])
    params = _as_sdk_sends(dict(plan.optional_params), {})[0]
    return params if headers == plan.headers and data == {"model": plan.model, "messages": probe, **params} else None


async def send(litellm: Any, plan: Plan, messages: list[dict], timeout: float | None) -> Any:
    """One call on ``plan``: litellm's request transform, one POST, litellm's response transform.
    Returns litellm's ``ModelResponse``; raises litellm's exception classes as ``acompletion`` does."""
    headers, data, optional, litellm_params = await request(plan, messages)
    sent = await post(plan.url, headers, json.dumps(data).encode(), timeout)
    return answer(litellm, plan, sent, messages, data, optional, litellm_params, timeout)


def answer(litellm: Any, plan: Plan, sent: Sent, messages: list[dict], data: dict, optional: dict | None = None,
           litellm_params: dict | None = None, timeout: float | None = None) -> Any:
    """litellm's ``ModelResponse`` for what came back, or litellm's exception for a failure."""
    import httpx

    if sent.error is not None:
        if isinstance(sent.error, asyncio.TimeoutError):
            raise _mapped(litellm, plan, litellm.Timeout(message=f"Request timed out after {timeout} s",
                                                         model=plan.model, llm_provider=plan.provider))
        raise _mapped(litellm, plan, litellm.APIConnectionError(
            message=f"Connection error: {sent.error}", llm_provider=plan.provider, model=plan.model))
    optional = dict(plan.optional_params) if optional is None else optional
    litellm_params = _litellm_params(plan) if litellm_params is None else litellm_params
    assert sent.status is not None
    response = httpx.Response(sent.status, headers=sent.headers, content=sent.raw,
                              request=httpx.Request("POST", plan.url))
    if sent.status >= 300:
        message = response.text if plan.wire == "anthropic" else _openai_error_message(response)
        raise _mapped(litellm, plan, plan.config.get_error_class(
            error_message=message, status_code=sent.status, headers=response.headers))
    from litellm.types.utils import ModelResponse

    try:
        if plan.wire == "anthropic":
            return plan.config.transform_response(
                model=plan.model, raw_response=response, model_response=ModelResponse(), logging_obj=_Log(),
                api_key=plan.api_key, request_data=data, messages=messages, optional_params=optional,
                litellm_params=litellm_params, encoding=None, json_mode=False)
        return _openai_response(plan, response)
    except Exception as exc:  # noqa: BLE001 - a malformed answer: litellm's mapping, as acompletion's
        raise _mapped(litellm, plan, exc) from None


def _anthropic_finish(plan: Plan, headers: dict, data: dict, litellm_params: dict) -> tuple[dict, dict]:
    """The beta-header filter and beta-gated body fields, as litellm's Anthropic handler applies them."""
    try:
        from litellm.anthropic_beta_gated_fields import strip_beta_gated_request_body
        from litellm.anthropic_beta_headers_manager import update_request_with_filtered_beta
    except ImportError:  # older litellm: neither step exists
        return headers, data
    headers, data = update_request_with_filtered_beta(headers=headers, request_data=data, provider="anthropic",
                                                      api_base=plan.api_base)
    data = dict(strip_beta_gated_request_body(data, headers, drop_params=litellm_params.get("drop_params"),
                                              model=plan.model, provider="anthropic"))
    return dict(headers), data


def _as_sdk_sends(data: dict, headers: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """The request the OpenAI SDK makes of litellm's transformed ``data``: ``stream`` and
    ``stream_options`` off (litellm pops them before the SDK call), ``extra_body`` merged into the
    body, ``extra_headers`` into the headers."""
    data.pop("stream", None)
    data.pop("stream_options", None)
    extra_body = data.pop("extra_body", None)
    if extra_body:
        data.update(extra_body)
    extra_headers = data.pop("extra_headers", None)
    if extra_headers:
        headers = {**headers, **extra_headers}
    return data, headers


def _openai_error_message(response: Any) -> str:
    """The message the OpenAI SDK gives an error answer: ``error.message`` of a JSON body, else its text."""
    try:
        body = response.json()
    except ValueError:
        return response.text
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return response.text


def _openai_response(plan: Plan, response: Any) -> Any:
    """The OpenAI SDK route's result: the parsed body through the provider config, then litellm's
    ``convert_to_model_response_object`` (what ``acompletion`` does with the SDK's answer)."""
    from litellm.litellm_core_utils.llm_response_utils.convert_dict_to_response import (
        convert_to_model_response_object,
    )
    from litellm.types.utils import ModelResponse

    parsed = response.json()
    shape = getattr(plan.config, "transform_parsed_response_dict", None)
    if shape is not None:
        parsed = shape(parsed)
    headers = dict(response.headers)
    model_response = ModelResponse()
    if plan.provider != "openai":
        model_response.model = f"{plan.provider}/{plan.model}"
    return convert_to_model_response_object(response_object=parsed, model_response_object=model_response,
                                            hidden_params={"headers": headers}, _response_headers=headers)


def _mapped(litellm: Any, plan: Plan, exc: BaseException) -> BaseException:
    """litellm's own mapping of a provider error onto its exception classes."""
    try:
        return litellm.exception_type(model=plan.model, original_exception=exc, custom_llm_provider=plan.provider,
                                      completion_kwargs={}, extra_kwargs={})
    except Exception as mapped:  # noqa: BLE001 - exception_type raises the mapped exception
        return mapped


def cost_of(litellm: Any, plan: Plan, response: Any) -> float | None:
    """The call's price: per-token prices from the plan; litellm's full ``completion_cost`` when
    the usage carries cached, cache-write or reasoning tokens (tiers and discounts apply then)."""
    if plan.prices is None:
        return None
    usage = getattr(response, "usage", None)
    if usage is None:
        return 0.0
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None)
    special = bool(getattr(details, "cached_tokens", None) or reasoning
                   or getattr(usage, "cache_creation_input_tokens", None)
                   or getattr(usage, "cache_read_input_tokens", None))
    if special or prompt > 128_000:  # long contexts may be priced by tier
        try:
            return float(litellm.completion_cost(completion_response=response, model=plan.model,
                                                 custom_llm_provider=plan.provider))
        except Exception:  # noqa: BLE001 - litellm could not price it after all
            return None
    return prompt * plan.prices[0] + completion * plan.prices[1]

