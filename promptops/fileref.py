"""``file://PATH`` references in suites and prompts, as promptfoo users write them.

A variable, an assertion value, a prompt body, a suite's ``cases:`` or a prompt's ``suite:`` may
be ``file://PATH``: the file's text, or its data when it ends in ``.json``, ``.yaml`` or ``.yml``.
``PATH`` is relative to the file that names it, and must stay inside the repository (``..`` that
climbs out, an absolute path and a symlink that points outside are refused). A missing file is a
:class:`~promptops.errors.SuiteError` with the file and line that named it.

A :class:`Files` reads either the working tree (``read=None``) or a git commit (``read`` returns a
repository-relative path's text, or None when there is no file there), so an eval at a ref reads
the referenced files as they were at that ref.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from ._util import yamlsafe
from .errors import PromptFileError, PromptopsError, SuiteError

SCHEME = "file://"
CODE_SUFFIXES = (".py", ".js", ".ts", ".mjs", ".cjs")


def is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(SCHEME)


class Files:
    """Reads ``file://`` references confined to ``root``."""

    def __init__(self, root: Path | str, read: Callable[[str], str | None] | None = None,
                 error: type[PromptopsError] = SuiteError):
        self.root = Path(root).resolve()
        self._read = read
        self.error = error
        self.reads: dict[str, str] = {}  # repository-relative path -> sha256 of the text, for every file read

    @property
    def at_commit(self) -> bool:
        """Whether references are read from a git commit rather than the working tree."""
        return self._read is not None

    def fresh(self, error: type[PromptopsError] | None = None) -> Files:
        """The same reader (root and commit) with its own record of files read."""
        return Files(self.root, self._read, error or self.error)

    def _seen(self, rel: str, text: str) -> tuple[str, str]:
        text = text.removeprefix("\ufeff")
        self.reads[rel] = hashlib.sha256(text.encode("utf-8")).hexdigest()
        return rel, text

    def relative(self, ref: str, named_in: str, where: str) -> str:
        """The repository-relative POSIX path a reference in ``named_in`` points at."""
        path = ref.removeprefix(SCHEME)
        if not path.strip():
            raise self.error(f"'{ref}' names no file", where=where)
        if posixpath.isabs(path) or Path(path).is_absolute():
            raise self.error(f"'{ref}' is an absolute path", where=where,
                             hint="give the path relative to the file that names it")
        base = Path(named_in)
        if base.is_absolute():
            try:
                base = base.resolve().relative_to(self.root)
            except ValueError:
                raise self.error(f"'{ref}' is named by a file outside the repository", where=where) from None
        rel = posixpath.normpath(posixpath.join(posixpath.dirname(base.as_posix()), path))
        if rel == ".." or rel.startswith("../"):
            raise self.error(f"'{ref}' leaves the repository", where=where,
                             hint="keep referenced files inside the project")
        return rel

    def text(self, ref: str, named_in: str, where: str) -> tuple[str, str]:
        """(repository-relative path, text) of the file a reference names."""
        rel = self.relative(ref, named_in, where)
        if self._read is not None:
            text = self._read(rel)
            if text is None:
                raise self.error(f"'{ref}': no file '{rel}' at this ref", where=where,
                                 hint="add the file (paths are relative to the file that names them)")
            return self._seen(rel, text)
        target = self.root / rel
        resolved = target.resolve()
        if not resolved.is_relative_to(self.root):
            raise self.error(f"'{ref}' leaves the repository (through a symlink)", where=where,
                             hint="keep referenced files inside the project")
        try:
            return self._seen(rel, resolved.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise self.error(f"'{ref}': no file '{rel}'", where=where,
                             hint="add the file (paths are relative to the file that names them)") from None
        except IsADirectoryError:
            raise self.error(f"'{ref}': '{rel}' is a folder, not a file", where=where) from None
        except UnicodeDecodeError:
            raise self.error(f"'{ref}': '{rel}' is not UTF-8 text", where=where) from None

    def value(self, ref: str, named_in: str, where: str) -> Any:
        """The file's text, or its data for ``.json``/``.yaml``/``.yml``."""
        return self.load(ref, named_in, where)[1]

    def load(self, ref: str, named_in: str, where: str) -> tuple[str, Any]:
        """(repository-relative path, the file's text or its ``.json``/``.yaml`` data)."""
        rel, text = self.text(ref, named_in, where)
        suffix = posixpath.splitext(rel)[1].lower()
        if suffix in CODE_SUFFIXES:
            raise self.error(f"'{ref}': code files are not run as values", where=where,
                             hint="promptfoo runs .py/.js variables as scripts; write the value itself, "
                                  "or use a 'python' assertion")
        if suffix == ".json":
            try:
                return rel, json.loads(text)
            except ValueError as exc:
                raise self.error(f"'{ref}': invalid JSON in '{rel}': {exc}", where=where) from None
        if suffix in (".yaml", ".yml"):
            try:
                return rel, yamlsafe.load(text)
            except yaml.YAMLError as exc:
                raise self.error(f"'{ref}': invalid YAML in '{rel}': {getattr(exc, 'problem', None) or exc}",
                                 where=where) from None
        return rel, text


def working_tree(start: Path) -> Path:
    """The repository a path belongs to: the nearest folder above it with promptops.yaml or .git."""
    start = start.resolve()
    for folder in [start, *start.parents] if start.is_dir() else list(start.parents):
        if (folder / "promptops.yaml").exists() or (folder / ".git").exists():
            return folder
    return Path.cwd()


def suite_path(value: str | None, source: str, where: str) -> str | None:
    """A prompt's ``suite:``: a root-relative path as it is, or ``file://PATH`` relative to the prompt
    file (``source``, root-relative) turned into one."""
    if not is_ref(value):
        return value
    base = PurePosixPath(source.replace("\\", "/")).parent.as_posix()
    path = value[len(SCHEME):]
    rel = posixpath.normpath(posixpath.join(base, path)) if path and not posixpath.isabs(path) else path
    if not rel or posixpath.isabs(rel) or rel == ".." or rel.startswith("../"):
        raise PromptFileError(f"suite '{value}' leaves the repository", where=where,
                              hint="file:// paths are relative to the prompt file, e.g. file://../datasets/x")
    return rel
