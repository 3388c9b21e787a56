"""OpenAI's wire shapes for the gateway: the chat request, errors, completions, stream chunks.

Kept apart from the routes so the shapes are read in one place: what ``/v1/chat/completions``
accepts (:class:`ChatRequest`), what it answers (:func:`completion`, :func:`chunks`) and how
errors look (:func:`error_body`: ``{"error": {"message", "type", "param", "code"}}``, the shape
the OpenAI SDK turns into its typed exceptions).
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from ..errors import AuthError, NotFoundError, PromptopsError, RenderError
from .schemas import ContextId, Metadata, Tag, Variables, _no_nul

GATEWAY_PATHS = ("/v1/chat/completions", "/v1/models")
ROLES = {"system", "developer", "user", "assistant", "tool", "function"}
# What a request may set on the model call (besides model and messages). A value the prompt's own
# `params` sets is the prompt's: the eval gate passed it with that value.
PASSTHROUGH = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "stop", "seed",
               "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "tools",
               "tool_choice", "parallel_tool_calls", "response_format", "reasoning_effort")
_VARIABLE = re.compile(r"variable(?:\(s\))?:? '?([A-Za-z_]\w*)")

Json = Annotated[Any, AfterValidator(_no_nul)]


class ChatRequest(BaseModel):
    """The body of ``POST /v1/chat/completions`` (OpenAI's, plus promptops' ``variables`` and
    call context, which the OpenAI SDK sends with ``extra_body``)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: str = Field(min_length=1, max_length=300)
    messages: list[dict[str, Json]] = Field(default_factory=list, max_length=1000)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    n: int = Field(1, ge=1, le=1)
    variables: Variables = Field(default_factory=dict)
    user: ContextId | None = None
    session_id: ContextId | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    metadata: Metadata = Field(default_factory=dict)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = Field(None, ge=0, le=20)
    tools: list[dict[str, Json]] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | dict[str, Json] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Json] | None = None
    reasoning_effort: str | None = Field(None, max_length=20)

    @field_validator("model")
    @classmethod
    def _model_text(cls, value: str) -> str:
        return _no_nul(value)

    @field_validator("messages")
    @classmethod
    def _roles(cls, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for i, m in enumerate(messages):
            if m.get("role") not in ROLES:
                raise ValueError(f"messages[{i}].role must be one of {', '.join(sorted(ROLES))}")
        return messages

    def params(self) -> dict[str, Any]:
        """The model parameters the request sets (PASSTHROUGH keys only, None left out)."""
        return {k: v for k in PASSTHROUGH if (v := getattr(self, k)) is not None}


class ParamFixed(PromptopsError):
    """The request sets a parameter the prompt fixes to another value."""

    http_status = 422


def merge_params(prompt_params: dict[str, Any], requested: dict[str, Any], where: str) -> dict[str, Any]:
    """The prompt's params, plus what the request adds; a request may not change what the prompt sets."""
    merged = dict(prompt_params)
    for key, value in requested.items():
        if key in prompt_params and prompt_params[key] != value:
            raise ParamFixed(f"{key}: the prompt sets {json.dumps(prompt_params[key])}; a request may not change it",
                             where=where, hint=f"leave out '{key}', or change the prompt's params and promote it")
        merged[key] = value
    return merged


# --- errors ---

def error_body(message: str, *, type: str = "invalid_request_error", param: str | None = None,
               code: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code,
                      **{k: v for k, v in extra.items() if v is not None}}}


def library_error(exc: PromptopsError) -> tuple[int, dict[str, Any]]:
    """(status, body) of a library error, in OpenAI's shape."""
    status = exc.http_status
    extra = dict(getattr(exc, "extra", None) or {})
    param, code, kind = None, None, "invalid_request_error"
    if isinstance(exc, RenderError):
        status, match = 422, _VARIABLE.search(exc.message)
        param, code = (f"variables.{match.group(1)}" if match else "variables"), "invalid_variables"
    elif isinstance(exc, ParamFixed):
        param, code = exc.message.split(":", 1)[0], "param_fixed_by_prompt"
    elif isinstance(exc, AuthError):
        code = "invalid_api_key" if status == 401 else "insufficient_scope"
        kind = "authentication_error" if status == 401 else "permission_error"
    elif isinstance(exc, NotFoundError) or status == 404:
        status, code, param = 404, "model_not_found", "model"
    elif status >= 500:
        kind, code = "api_error", "upstream_error" if status == 502 else None
    message = exc.message if not exc.hint else f"{exc.message} ({exc.hint})"
    return status, error_body(message, type=kind, param=param, code=code, where=exc.where,
                              call_id=extra.get("call_id"))


def validation_error(errors: list[dict[str, Any]]) -> dict[str, Any]:
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    message = first["msg"] if first.get("type") != "extra_forbidden" else "unrecognized request argument"
    return error_body(f"{param}: {message}" if param else message, param=param,
                      code="unknown_parameter" if first.get("type") == "extra_forbidden" else "invalid_value")


# --- answers ---

def served_info(call_id: str, *, prompt: str | None, version: str | None, label: str | None, model: str,
                response: dict[str, Any], canary: bool | None = None) -> dict[str, Any]:
    """The ``promptops`` field of every answer: what served the call (``canary``: which side of a
    running canary, None when the label runs none)."""
    return {"call_id": call_id, "prompt": prompt, "version": version, "label": label, "model": model,
            "canary": canary, "latency_ms": response.get("latency_ms"), "cost_usd": response.get("cost_usd")}


def _usage(response: dict[str, Any]) -> dict[str, int]:
    p, c = response.get("prompt_tokens") or 0, response.get("completion_tokens") or 0
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _finish(response: dict[str, Any]) -> str:
    return response.get("finish_reason") or ("tool_calls" if response.get("tool_calls") else "stop")


def completion(call_id: str, model: str, response: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response["text"] or None, "refusal": None}
    if response.get("tool_calls"):
        message["tool_calls"] = response["tool_calls"]
    elif message["content"] is None:
        message["content"] = ""
    return {"id": call_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(response)}],
            "usage": _usage(response), "system_fingerprint": None, "promptops": info}


_PIECE = re.compile(r"\S+\s*|\s+")


def pieces(text: str, size: int = 24) -> list[str]:
    """The text cut at word ends into pieces of about ``size`` characters (the stream's deltas)."""
    out, current = [], ""
    for word in _PIECE.findall(text):
        if current and len(current) + len(word) > size:
            out.append(current)
            current = ""
        current += word
    if current:
        out.append(current)
    return out


def chunks(call_id: str, model: str, response: dict[str, Any], info: dict[str, Any], *,
           include_usage: bool) -> list[bytes]:
    """The answer as OpenAI's server-sent events: a role chunk, the text (or the tool calls) in
    pieces, a finish chunk, the usage chunk when asked for, then ``[DONE]``."""
    base = {"id": call_id, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "system_fingerprint": None, "promptops": info}

    def event(delta: dict[str, Any], finish: str | None = None, **more: Any) -> bytes:
        body = dict(base, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}], **more)
        return b"data: " + json.dumps(body).encode() + b"\n\n"

    out = [event({"role": "assistant", "content": ""})]
    out += [event({"content": piece}) for piece in pieces(response["text"] or "")]
    for i, call in enumerate(response.get("tool_calls") or ()):
        out.append(event({"tool_calls": [{"index": i, **call}]}))
    out.append(event({}, _finish(response)))
    if include_usage:
        usage = dict(base, choices=[], usage=_usage(response))
        out.append(b"data: " + json.dumps(usage).encode() + b"\n\n")
    out.append(b"data: [DONE]\n\n")
    return out
