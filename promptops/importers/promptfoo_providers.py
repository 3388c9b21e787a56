"""promptfoo provider ids and configs → litellm model names and ``promptops.yaml`` model entries.

``openai:gpt-4o-mini`` and ``openai:chat:gpt-4o-mini`` become ``openai/gpt-4o-mini``,
``anthropic:messages:claude-…`` ``anthropic/claude-…``, ``ollama:chat:llama3`` ``ollama_chat/llama3``,
and so on (:data:`PREFIXES`); ``echo`` is promptops's built-in ``echo`` model. From ``config``:
``apiBaseUrl``/``apiHost``/``baseUrl`` → ``api_base``; ``apiKeyEnvar`` → ``api_key_env``; an ``apiKey``
is never written: its variable (``{{ env.X }}`` or ``${X}``) becomes ``api_key_env``, and a literal key
becomes a variable name the report asks you to set; the usual call parameters go to ``params``;
``tools``/``tool_choice``/``response_format`` go to the prompts' front matter. Anything else is
listed as not imported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

PREFIXES = {
    "openai:chat:": "openai/", "openai:responses:": "openai/", "openai:completion:": "text-completion-openai/",
    "openai:": "openai/", "anthropic:messages:": "anthropic/", "anthropic:": "anthropic/",
    "azure:chat:": "azure/", "azureopenai:chat:": "azure/", "azure:": "azure/", "bedrock:": "bedrock/",
    "vertex:": "vertex_ai/", "google:": "gemini/", "gemini:": "gemini/", "mistral:": "mistral/", "groq:": "groq/",
    "ollama:chat:": "ollama_chat/", "ollama:completion:": "ollama/", "ollama:": "ollama/",
    "openrouter:": "openrouter/", "together:": "together_ai/", "deepseek:": "deepseek/",
    "perplexity:": "perplexity/", "cohere:": "cohere/", "fireworks:": "fireworks_ai/", "xai:": "xai/",
    "huggingface:text-generation:": "huggingface/", "litellm:": "",
}
UNSUPPORTED = ("exec:", "python:", "file://", "http:", "https:", "webhook:", "browser", "websocket:", "sequence",
               "openai:embedding", "openai:assistant:", "openai:realtime:", "openai:image:", "promptfoo:", "golang:")
PARAMS = {"temperature", "max_tokens", "max_completion_tokens", "top_p", "frequency_penalty", "presence_penalty",
          "stop", "seed", "n", "top_k", "reasoning_effort", "logit_bias", "user"}
CAMEL = {"maxTokens": "max_tokens", "topP": "top_p", "topK": "top_k", "frequencyPenalty": "frequency_penalty",
         "presencePenalty": "presence_penalty", "stopSequences": "stop", "max_output_tokens": "max_tokens"}
PROMPT_KEYS = ("tools", "tool_choice", "response_format")
_ENV_REF = re.compile(r"^\s*(?:\{\{\s*env\.([A-Za-z_]\w*)\s*\}\}|\$\{?([A-Za-z_]\w*)\}?)\s*$")


@dataclass
class Provider:
    """One promptfoo provider as promptops sees it."""

    key: str                    # the model name prompts use (a promptops.yaml key when ``entry``)
    target: str                 # the litellm name
    entry: dict[str, Any] = field(default_factory=dict)   # the promptops.yaml models: entry, when needed
    prompt_settings: dict[str, Any] = field(default_factory=dict)  # tools etc. for the bound prompts
    prompts: list[str] | None = None  # labels/ids it is bound to (None: every prompt)
    notes: list[str] = field(default_factory=list)
    secret_env: str | None = None  # a variable to set, for an apiKey that was written literally


def litellm_name(pid: str) -> str | None:
    if pid == "echo":
        return "echo"
    if any(pid.startswith(p) for p in UNSUPPORTED):
        return None
    for prefix, replacement in PREFIXES.items():
        if pid.startswith(prefix):
            rest = pid[len(prefix):]
            return f"{replacement}{rest}" if rest else None
    return None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "model"


def convert(raw: Any, index: int) -> Provider | str:
    """A Provider, or why it cannot be imported."""
    if isinstance(raw, str):
        raw = {"id": raw}
    if isinstance(raw, dict) and "id" not in raw and len(raw) == 1:  # {openai:gpt-4: {config: ...}}
        (pid, body), = raw.items()
        raw = {"id": pid, **(body if isinstance(body, dict) else {})}
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        return f"provider {index + 1}: not a provider id or mapping: {raw!r}"[:160]
    pid = raw["id"]
    target = litellm_name(pid)
    if target is None:
        return f"provider '{pid}': no litellm equivalent (custom script, HTTP or unsupported provider)"
    label = raw.get("label")
    provider = Provider(key=_slug(label) if label else target, target=target)
    prompts = raw.get("prompts")
    if prompts is not None:
        provider.prompts = [str(p) for p in (prompts if isinstance(prompts, list) else [prompts])]
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        return f"provider '{pid}': config must be a mapping"
    params: dict[str, Any] = {}
    for key, value in config.items():
        name = CAMEL.get(key, key)
        if key in ("apiBaseUrl", "baseUrl", "base_url", "apiBase"):
            provider.entry["api_base"] = str(value)
        elif key == "apiHost":
            host = str(value)
            provider.entry["api_base"] = host if "://" in host else f"https://{host}/v1"
        elif key == "apiKeyEnvar":
            provider.entry["api_key_env"] = str(value)
        elif key == "apiKey":
            ref = _ENV_REF.match(str(value))
            if ref:
                provider.entry["api_key_env"] = ref.group(1) or ref.group(2)
            else:
                env = "PROMPTOPS_" + re.sub(r"\W+", "_", provider.key).upper().strip("_") + "_API_KEY"
                provider.entry["api_key_env"] = env
                provider.secret_env = env
                provider.notes.append(f"provider '{pid}': its apiKey was written in the config and is NOT "
                                      f"copied; set {env} in the environment")
        elif key in PROMPT_KEYS:
            provider.prompt_settings[key] = value
        elif name in PARAMS:
            params[name] = value
        else:
            provider.notes.append(f"provider '{pid}': config key '{key}' not imported")
    if params:
        provider.entry["params"] = params
    if provider.entry or label:
        provider.entry = {"model": target, **provider.entry}
    for key in sorted(set(raw) - {"id", "label", "config", "prompts", "transform", "delay"}):
        provider.notes.append(f"provider '{pid}': key '{key}' not imported")
    if raw.get("transform") is not None:
        provider.notes.append(f"provider '{pid}': its output transform is not imported")
    return provider
