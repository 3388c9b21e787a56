"""Where prompt files live: ``<prompts_dir>/<name>.prompt`` under the project root. No git here."""

from __future__ import annotations

import posixpath
from pathlib import Path

from ..errors import NotFoundError
from ..prompts import NAME_RE, Prompt, load_prompt

PROMPT_SUFFIX = ".prompt"


class PromptFiles:
    """The prompt files of one project root, in the working tree and as paths in commits."""

    def __init__(self, root: Path, prompts_dir: str = "prompts"):
        self.root = root
        self.prompts_dir = prompts_dir.strip("/") or "."

    def prompt_path(self, name: str) -> str:
        """The path of a prompt file relative to root: ``prompts/<name>.prompt``."""
        if not NAME_RE.match(name):
            raise NotFoundError(f"invalid prompt name '{name}'",
                                hint="a prompt name is letters, digits, '-', '_' or '.', as its file name")
        return posixpath.normpath(f"{self.prompts_dir}/{name}{PROMPT_SUFFIX}")

    def is_prompt_path(self, rel: str) -> bool:
        """Whether a root-relative path is a prompt file (directly in the prompts folder)."""
        folder = posixpath.normpath(self.prompts_dir)
        return rel.endswith(PROMPT_SUFFIX) and posixpath.dirname(rel) == ("" if folder == "." else folder)

    def working_files(self) -> list[Path]:
        """The prompt files in the working tree, sorted by name."""
        folder = self.root / self.prompts_dir
        if not folder.is_dir():
            return []
        return sorted((p for p in folder.glob(f"*{PROMPT_SUFFIX}") if p.is_file()), key=lambda p: p.stem)

    def list_prompts(self) -> list[Prompt]:
        """Every prompt in the working tree, sorted by name."""
        return [load_prompt(p, root=self.root) for p in self.working_files()]


def stem(path: str) -> str:
    """The prompt name of a prompt file path."""
    base = posixpath.basename(path)
    return base[: -len(PROMPT_SUFFIX)] if base.endswith(PROMPT_SUFFIX) else base
