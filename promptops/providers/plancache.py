"""Compiled plans on disk, so that a small eval need not import litellm (3–5 s of CPU).

Only plans litellm itself shows to be plain pass-throughs are stored: OpenAI-wire providers whose
request transform, probed at compile time with plain text messages, gives back exactly
``{"model": <model>, "messages": <the messages>, **<mapped parameters>}``, with the key given by
promptops (``api_key_env`` or ``params.api_key``). The file (``<state>/plans.json``) holds, per
plan, the URL, the headers with the key replaced by a placeholder (the key itself is never
written), the mapped parameters and the per-token prices, stamped with litellm's version (read from
its package metadata, without importing it) and keyed by the model options and the environment
variables litellm's resolution reads.

On a hit, a call whose messages are all plain ``{"role", "content": str}`` is sent as that body, and
an answer with text and plain usage (no tool calls, no cached or reasoning tokens) becomes the
Completion directly. Anything else — another message shape, an error status, a timeout, a tool call,
special usage — imports litellm and goes through the full plan, so errors and costs are litellm's
own as on the compiled path.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DiskPlan", "where", "lookup", "store", "plain_messages", "simple_answer", "litellm_version"]

FORMAT = 1
FILE = "plans.json"
_KEY = "\x00promptops-key\x00"  # where the call's key goes in a stored header
_ENV = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENAI_ORGANIZATION")  # read by litellm's resolution
_ROLES = frozenset({"system", "user", "assistant"})

_LOADED: dict[str, dict] = {}  # file path -> its plans, read once per process
_VERSION: list[str | None] = []


@dataclass
class DiskPlan:
    url: str
    headers: dict[str, str]
    model: str
    optional_params: dict[str, Any]
    prices: tuple[float, float] | None

    def body(self, messages: list[dict]) -> dict[str, Any]:
        return {"model": self.model, "messages": messages, **self.optional_params}


def litellm_version() -> str | None:
    """litellm's installed version from its package metadata (litellm is not imported)."""
    if not _VERSION:
        try:
            from importlib.metadata import version

            _VERSION.append(version("litellm"))
        except Exception:  # noqa: BLE001 - not installed, broken metadata: no disk plans
            _VERSION.append(None)
    return _VERSION[0]


def where(config: Any) -> Path | None:
    """The plan file of a project's config (one :func:`~promptops.config.load_config` gave: its
    root is absolute); None for a config built in code, which keeps its plans in memory."""
    root = getattr(config, "root", None)
    if root is None or not Path(root).is_absolute():
        return None
    return Path(config.state_path) / FILE


_path = where


def _plan_key(target: str, kwargs: dict[str, Any]) -> str | None:
    if not kwargs.get("api_key"):
        return None
    shown = {k: v for k, v in kwargs.items() if k not in ("api_key", "timeout", "num_retries")}
    text = json.dumps([FORMAT, litellm_version(), target, shown, [os.environ.get(v) for v in _ENV]],
                      sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _load(path: Path) -> dict:
    key = str(path)
    if key not in _LOADED:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            ok = isinstance(data, dict) and data.get("format") == FORMAT and data.get("litellm") == litellm_version()
            _LOADED[key] = data.get("plans", {}) if ok else {}
        except (OSError, ValueError):
            _LOADED[key] = {}
    return _LOADED[key]


def lookup(config: Any, target: str, kwargs: dict[str, Any]) -> DiskPlan | None:
    """The stored plan for this call, with the call's key in its headers; None on a miss."""
    path = _path(config)
    key = _plan_key(target, kwargs)
    if path is None or key is None or litellm_version() is None:
        return None
    entry = _load(path).get(key)
    if not isinstance(entry, dict):
        return None
    secret = str(kwargs["api_key"])
    try:
        headers = {str(k): str(v).replace(_KEY, secret) for k, v in entry["headers"].items()}
        prices = entry.get("prices")
        return DiskPlan(url=str(entry["url"]), headers=headers, model=str(entry["model"]),
                        optional_params=dict(entry["optional_params"]),
                        prices=(float(prices[0]), float(prices[1])) if prices else None)
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def store(config: Any, target: str, kwargs: dict[str, Any], plan: Any, params: dict | None) -> bool:
    """Write ``plan`` (a :class:`~.fastpath.Plan`) to disk when it is a plain pass-through:
    ``params`` is what :func:`.fastpath.passthrough` found (None: not one). True when written."""
    path = _path(config)
    key = _plan_key(target, kwargs)
    if path is None or key is None or params is None or plan.wire != "openai":
        return False
    secret = str(kwargs["api_key"])
    headers = {k: v.replace(secret, _KEY) for k, v in plan.headers.items()}
    visible = json.dumps([plan.url, params, plan.model], default=repr)
    if secret in visible or not any(_KEY in v for v in headers.values()):
        return False  # the key went somewhere other than a header: not a plan to replay
    entry = {"url": plan.url, "headers": headers, "model": plan.model, "optional_params": params,
             "prices": list(plan.prices) if plan.prices else None, "target": target}
    plans = dict(_load(path))
    plans[key] = entry
    _LOADED[str(path)] = plans
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"format": FORMAT, "litellm": litellm_version(), "plans": plans}, indent=1),
                       encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        return False  # a read-only state folder: plans stay in memory
    return True


def plain_messages(messages: list[dict]) -> bool:
    """Whether every message is a plain ``{"role": system|user|assistant, "content": str}``."""
    return all(isinstance(m, dict) and len(m) == 2 and m.get("role") in _ROLES and isinstance(m.get("content"), str)
               for m in messages)


def simple_answer(raw: bytes) -> tuple[str, int, int] | None:
    """(text, prompt tokens, completion tokens) of a plain text answer; None for anything else."""
    try:
        data = json.loads(raw)
        choice = data["choices"][0]
        message = choice["message"]
        usage = data["usage"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    text = message.get("content") if isinstance(message, dict) else None
    if not isinstance(text, str) or message.get("tool_calls") or message.get("function_call") \
            or not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int) or prompt > 128_000:
        return None  # (a long context may be priced by tier: litellm's completion_cost decides)
    details = usage.get("prompt_tokens_details") or {}
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens")
    if (isinstance(details, dict) and details.get("cached_tokens")) or reasoning:
        return None
    return text, prompt, completion
