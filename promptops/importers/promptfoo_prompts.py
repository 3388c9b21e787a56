"""promptfoo prompts → promptops prompt bodies.

A prompt is an inline string, ``file://`` text (``---`` lines separate several prompts in one
file), a JSON or YAML chat (a list of ``{role, content}``, inline or in a file), or a mapping
``{id | raw, label}``. Nunjucks ``| dump`` becomes Jinja2's ``| tojson``. Prompt functions (``.py``,
``.js``) are not imported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .promptfoo_files import TEXT_SUFFIXES, load_data, paths, read_text

ROLE_MAP = {"system": "system", "user": "user", "assistant": "assistant", "developer": "system"}
_SEPARATOR = re.compile(r"^-{3,}\s*$", re.M)
_HEADER_LIKE = re.compile(r"^([a-z_]+):\s*$", re.M)


@dataclass
class SourcePrompt:
    label: str            # what providers' `prompts:` bind to (the label, else the raw id or text)
    name_hint: str        # a base for the promptops name
    messages: list[tuple[str, str]]
    origin: str           # where it came from, for the report


def _nunjucks(text: str) -> str:
    return re.sub(r"\|\s*dump\b", "| tojson", text)


def _chat(data: Any) -> list[tuple[str, str]] | None:
    if not isinstance(data, list) or not data or not all(isinstance(m, dict) and "role" in m for m in data):
        return None
    out = []
    for m in data:
        role = ROLE_MAP.get(m["role"])
        content = m.get("content")
        if role is None or not isinstance(content, str):
            return None
        out.append((role, _nunjucks(content)))
    return out


def _from_text(text: str) -> list[tuple[str, str]]:
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            chat = _chat(json.loads(stripped))
        except ValueError:
            chat = None
        if chat is not None:
            return chat
    return [("user", _nunjucks(text.strip("\n")))]


def read(raw: Any, base: Path, index: int) -> tuple[list[SourcePrompt], list[str]]:
    """The prompts one ``prompts:`` item stands for, and what could not be imported."""
    label = None
    if isinstance(raw, dict):
        label = raw.get("label")
        if isinstance(raw.get("raw"), str):
            ref, inline = raw["raw"], True
        elif isinstance(raw.get("id"), str):
            ref, inline = raw["id"], not raw["id"].startswith("file://")
        else:
            return [], [f"prompt {index + 1}: a mapping needs id or raw: {raw!r}"[:160]]
    elif isinstance(raw, str):
        ref, inline = raw, not raw.startswith("file://")
    else:
        return [], [f"prompt {index + 1}: not a string or mapping: {raw!r}"[:160]]
    if inline:
        return [SourcePrompt(label or ref, label or f"prompt-{index + 1}", _from_text(ref),
                             f"prompts[{index}]")], []
    out: list[SourcePrompt] = []
    skipped: list[str] = []
    for path in paths(base, ref, f"prompts[{index}]"):
        shown = str(path.relative_to(base)) if path.is_relative_to(base) else str(path)
        if path.suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
            skipped.append(f"prompt {shown}: a prompt function (code) is not imported")
            continue
        if path.suffix in (".json", ".yaml", ".yml", ".jsonl"):
            try:
                chat = _chat(load_data(path))
            except Exception:  # noqa: BLE001 - reported below as not a chat
                chat = None
            if chat is None:
                skipped.append(f"prompt {shown}: not a chat (a list of {{role, content}} with text content)")
            else:
                out.append(SourcePrompt(label or ref, label or path.stem, chat, shown))
            continue
        if path.suffix not in TEXT_SUFFIXES:
            skipped.append(f"prompt {shown}: unsupported file type '{path.suffix}'")
            continue
        parts = [p for p in _SEPARATOR.split(read_text(path)) if p.strip()]
        for n, part in enumerate(parts):
            hint = label or path.stem
            out.append(SourcePrompt(label or ref, hint if len(parts) == 1 else f"{hint}-{n + 1}", _from_text(part),
                                    shown if len(parts) == 1 else f"{shown} (part {n + 1})"))
    return out, skipped


def body(messages: list[tuple[str, str]]) -> tuple[str, str | None]:
    """The promptops body for the messages, and why it cannot be written (else None)."""
    if messages[-1][0] == "assistant":
        return "", "the chat ends with an assistant message (promptops prompts end with a user turn)"
    lines = []
    for role, text in messages:
        if _HEADER_LIKE.search(text) or re.search(r"^messages:\s*\w+\s*$", text, re.M):
            return "", "its text has a line like a role marker ('user:' alone on a line)"
        if not text.strip():
            return "", f"an empty {role} message"
        lines += [f"{role}:", text.strip("\n")]
    return "\n".join(lines) + "\n", None


def front_yaml(front: dict[str, Any], indent: int = 2) -> str:
    """YAML that promptops reads back: no anchors or aliases (its loader refuses them)."""
    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML's signature
            return True

    return yaml.dump(front, Dumper=NoAliases, sort_keys=False, allow_unicode=True, width=100, indent=indent)
