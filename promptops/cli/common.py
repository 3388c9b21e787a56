"""What every command shares: the project config, console output, JSON output."""

from __future__ import annotations

import json
import os
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from .._util.fmt import pct  # noqa: F401 - the commands format through common.pct

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # model-loading bars drown the output

STATE: dict[str, Any] = {"root": None}


def config():
    return _config(STATE["root"])


@lru_cache(maxsize=4)
def _config(root: str | None):
    from ..config import load_config

    return load_config(Path(root) if root else None)


@lru_cache(maxsize=1)
def console():
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(highlight=False, soft_wrap=True, width=160)
    return console


@lru_cache(maxsize=1)
def err_console():
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def table(title: str | None, columns: list[str], rows: list[list[Any]]) -> None:
    from rich.table import Table

    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    console().print(t)


def history():
    from ..history import History

    cfg = config()
    return History(cfg.root, cfg.prompts_dir, label_resolver=label_resolver(cfg))


def label_resolver(cfg):
    """name@label resolves through the deployments in the store (opened only when needed)."""

    def resolve(name: str, label: str) -> str | None:
        from ..deploy import label_commit

        return label_commit(cfg, name, label)

    return resolve

