"""Readable diffs between two versions of a prompt."""

from __future__ import annotations

import difflib


def label(resolved) -> str:
    where = resolved.commit[:10] if resolved.commit else "working tree"
    return f"{resolved.prompt.name}@{resolved.prompt.version} ({where})"


def prompt_diff(left, right, *, context: int = 3) -> str:
    """Unified diff of the canonical text of two resolved versions ('' when the content is the same)."""
    if left.prompt.hash == right.prompt.hash:
        return ""
    a = left.prompt.to_text().splitlines(keepends=True)
    b = right.prompt.to_text().splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, fromfile=label(left), tofile=label(right), n=context))
