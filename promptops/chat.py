"""What a prompt adds to a chat request beyond its role sections: conversation history and the
call's tools and structured-output settings.

**History.** A body line ``messages: <var>`` alone on a line (like the role markers) inserts the
list of messages held by ``<var>`` there (Langfuse's chat placeholder). The variable is declared
with type ``messages``: a list of ``{role, content}`` mappings, role one of system, user,
assistant, tool; an assistant message may carry ``tool_calls`` instead of content, a tool message
``tool_call_id``. Multi-turn conversation cases are suites whose cases give the history.

**Call settings.** Front-matter keys passed to the model with the params:

- ``tools``: OpenAI function schemas, ``[{type: function, function: {name, description,
  parameters}}]``; a bare ``{name, description, parameters}`` is wrapped;
- ``tool_choice``: ``auto``, ``none``, ``required``, a tool's name, or OpenAI's mapping;
- ``response_format``: ``{type: json_object}``, ``{type: json_schema, json_schema: {name, schema,
  strict}}``, or a bare JSON schema (wrapped as ``json_schema`` named ``response``). With a schema,
  the prompt's default assertions include ``json-schema`` on it.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import PromptFileError, RenderError

PLACEHOLDER_RE = re.compile(r"^messages:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")
MESSAGE_ROLES = ("system", "user", "assistant", "tool")
CALL_KEYS = ("tools", "tool_choice", "response_format")
_MESSAGE_KEYS = {"role", "content", "name", "tool_calls", "tool_call_id"}


def check_messages(value: Any, name: str) -> list[dict[str, Any]]:
    """The messages of variable ``name``, checked; raises RenderError naming the bad item."""
    if not isinstance(value, list):
        raise RenderError(f"variable '{name}' must be a list of messages, got {type(value).__name__}",
                          hint="e.g. [{role: user, content: Hi}, {role: assistant, content: Hello}]")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or item.get("role") not in MESSAGE_ROLES:
            raise RenderError(f"variable '{name}' item {i}: a message is {{role, content}} with role one of "
                              f"{', '.join(MESSAGE_ROLES)}, got {item!r}"[:300])
        extra = sorted(set(item) - _MESSAGE_KEYS)
        if extra:
            raise RenderError(f"variable '{name}' item {i}: unknown key(s) {', '.join(extra)}",
                              hint=f"message keys: {', '.join(sorted(_MESSAGE_KEYS))}")
        content = item.get("content")
        if not isinstance(content, str) and not (content is None and item.get("tool_calls")) \
                and not isinstance(content, list):
            raise RenderError(f"variable '{name}' item {i}: 'content' must be text")
        out.append(dict(item))
    return out


# A prompt file arrives through a pull request: were it able to name the endpoint or the
# credentials, it could send the configured API key to a server of its author's choosing.
_ENDPOINT_PARAMS = frozenset({
    "api_base", "base_url", "api_url", "endpoint", "url", "api_key", "api_version", "organization", "project",
    "headers", "extra_headers", "custom_llm_provider", "azure_ad_token", "azure_ad_token_provider",
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_profile_name", "aws_role_name",
    "vertex_credentials", "vertex_project", "vertex_location", "client", "litellm_params"})
_ENDPOINT_WORDS = ("secret", "password", "credential", "api_key", "access_key", "auth")


def _is_endpoint_param(key: str) -> bool:
    lowered = key.lower().replace("-", "_")
    return lowered in _ENDPOINT_PARAMS or any(word in lowered for word in _ENDPOINT_WORDS)


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if isinstance(tool, dict) and tool.get("type", "function") == "function" and isinstance(tool.get("function"), dict):
        function = tool["function"]
    elif isinstance(tool, dict) and "name" in tool and "function" not in tool:
        function = tool
    else:
        raise PromptFileError(f"'tools' item {tool!r} is not a function schema"[:200], where=where,
                              hint="tools: [{type: function, function: {name: ..., parameters: {...}}}]")
    if not isinstance(function.get("name"), str) or not re.match(r"^[A-Za-z0-9_-]{1,64}$", function["name"]):
        raise PromptFileError(f"tool name {function.get('name')!r} must be 1-64 letters, digits, '_' or '-'",
                              where=where)
    params = function.get("parameters")
    if params is not None and not isinstance(params, dict):
        raise PromptFileError(f"tool '{function['name']}': parameters must be a JSON schema mapping", where=where)
    return {"type": "function", "function": dict(function)}


def _tool_choice(value: Any, names: list[str], where: str) -> Any:
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, str):
        value = {"type": "function", "function": {"name": value}}
    name = value.get("function", {}).get("name") if isinstance(value, dict) else None
    if name not in names:
        raise PromptFileError(f"tool_choice {value!r} names no declared tool", where=where,
                              hint=f"auto, none, required, or one of: {', '.join(names) or '(no tools)'}")
    return value


def _response_format(value: Any, where: str) -> tuple[dict[str, Any], Any]:
    """(the response_format to send, its JSON schema or None)."""
    if not isinstance(value, dict):
        raise PromptFileError("'response_format' must be a mapping", where=where,
                              hint="{type: json_object}, {type: json_schema, json_schema: {...}} or a JSON schema")
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return dict(value), None
    if kind == "json_schema":
        spec = value.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise PromptFileError("response_format json_schema needs json_schema: {name, schema}", where=where)
        return {"type": "json_schema", "json_schema": {"name": "response", **spec}}, spec["schema"]
    if kind == "object" or "properties" in value:
        return {"type": "json_schema", "json_schema": {"name": "response", "schema": value}}, value
    raise PromptFileError(f"unknown response_format type {kind!r}", where=where,
                          hint="text, json_object, json_schema, or give a JSON schema itself")


def call_settings(front: dict[str, Any], where_of) -> tuple[dict[str, Any], Any]:
    """(the params that ``tools``, ``tool_choice`` and ``response_format`` add, the response schema
    or None); ``where_of(key)`` names the line of a key."""
    params: dict[str, Any] = {}
    names: list[str] = []
    if front.get("tools") is not None:
        if not isinstance(front["tools"], list) or not front["tools"]:
            raise PromptFileError("'tools' must be a non-empty list of function schemas", where=where_of("tools"))
        params["tools"] = [_tool(t, where_of("tools")) for t in front["tools"]]
        names = [t["function"]["name"] for t in params["tools"]]
    if front.get("tool_choice") is not None:
        params["tool_choice"] = _tool_choice(front["tool_choice"], names, where_of("tool_choice"))
    schema = None
    if front.get("response_format") is not None:
        params["response_format"], schema = _response_format(front["response_format"], where_of("response_format"))
    return params, schema
