"""One command run's shared state and output: the global options, the consoles, JSON and tables,
and what must happen when the run ends. Cheap to import: `promptops --help` loads this and
nothing of the library (the run's project is in :mod:`.common`)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import lru_cache
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # model-loading bars drown the output
# transformers converts a GGUF file under a bare tqdm bar that its own progress switch does not reach
os.environ.setdefault("TQDM_DISABLE", "1")

STATE: dict[str, Any] = {"root": None}
_AT_END: list[Callable[[], None]] = []


def at_end(hook: Callable[[], None]) -> None:
    """Run ``hook`` when the command run ends (once, however many times it is registered)."""
    if hook not in _AT_END:
        _AT_END.append(hook)


def end() -> None:
    """End the run: the hooks, newest first (the CLI's exit; in-process tests between commands)."""
    while _AT_END:
        _AT_END.pop()()


@lru_cache(maxsize=1)
def console():
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and not os.environ.get("COLUMNS", "").strip().isdigit():
        # piped or captured: do not squeeze tables into 80 columns (unless COLUMNS says so)
        console = Console(highlight=False, soft_wrap=True, width=160)
    return console


@lru_cache(maxsize=1)
def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    """A table on stdout; cells are data, never markup or terminal escape sequences (a prompt's
    description or a commit message is shown as written)."""
    import re

    from rich.markup import escape
    from rich.table import Table

    # the rule of promptops._util.text.printable, not imported: `promptops --help` loads no library code
    controls = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

    def printable(text: str) -> str:
        return controls.sub(lambda m: repr(m.group())[1:-1] if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                            text)

    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else escape(printable(str(v))) for v in r])
    console().print(t)
