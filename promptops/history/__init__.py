"""Prompt history from git: versions, content at any ref, changed prompts between two refs.

Git is the source of truth. A *version* of a prompt is the content hash of its parsed file
(:attr:`promptops.prompts.Prompt.hash`) together with the commits at which that content exists.
Nothing is registered by hand: :meth:`History.versions` reads ``git log --follow`` of the prompt
file, so a renamed prompt keeps the history of its old name.

``name@ref`` specs resolve, in this order, as a version-hash prefix (4+ hex digits), any git
revision (commit sha or prefix, branch, tag, ``HEAD~1``), then a label through the optional
``label_resolver(name, label) -> commit sha | None``.

GitPython is imported lazily (inside :class:`~.git.GitRepo`) so that listing prompts from the
working tree does not pay for it. Paths in the public API (``CommitInfo.path``, ``Resolved.path``,
``text_at``) are relative to ``root`` and use ``/``; ``root`` may be the git work tree or a folder
inside one.

The parts: :mod:`.git` (all git plumbing), :mod:`.log` (the raw log parser), :mod:`.versions`,
:mod:`.resolve` and :mod:`.changes`; :class:`History` puts them behind one object.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import NotFoundError, PromptopsError, SuiteError
from ..prompt_refs import python_paths
from ..prompts import Prompt
from ..fileref import SCHEME, Files
from ..suites import SUITE_SUFFIXES, Case, parse_suite_texts, suite_texts
from .changes import Change, Changes
from .git import GitObject, GitRepo
from .log import CommitInfo, LogEntry, parse_raw_log
from .paths import PROMPT_SUFFIX, PromptFiles
from .resolve import LabelResolver, Resolved, Resolver
from .versions import Versions, VersionInfo

if TYPE_CHECKING:  # pragma: no cover
    import git as gitpython

__all__ = ["PROMPT_SUFFIX", "Change", "CommitInfo", "GitObject", "GitRepo", "History", "LabelResolver",
           "LogEntry", "Resolved", "VersionInfo", "parse_raw_log"]


class History:
    """Versions and content of the prompts in one repository.

    ``git`` is the :class:`GitRepo` underneath, for callers that write to the repository
    (deployment tags)."""

    def __init__(self, root: Path | str, prompts_dir: str = "prompts",
                 label_resolver: LabelResolver | None = None):
        self.root = Path(root).resolve()
        self.label_resolver = label_resolver
        self.git = GitRepo(self.root)
        self._files = PromptFiles(self.root, prompts_dir)
        self.prompts_dir = self._files.prompts_dir
        self._versions = Versions(self.git, self._files)
        self._resolver = Resolver(self.git, self._files, self._versions)
        self._changes = Changes(self.git, self._files, self._versions, suite_reads=self.suite_reads)

    # ------------------------------------------------------------------ working tree

    def prompt_path(self, name: str) -> str:
        """The path of a prompt file relative to root: ``prompts/<name>.prompt``."""
        return self._files.prompt_path(name)

    def list_prompts(self) -> list[Prompt]:
        """Every prompt in the working tree (``prompts/*.prompt``), sorted by name. No git needed."""
        return self._files.list_prompts()

    def current_branch(self) -> str | None:
        """The checked-out branch, or None (no git, detached HEAD); read without GitPython."""
        return self.git.current_branch()

    # ------------------------------------------------------------------ git

    @property
    def repo(self) -> "gitpython.Repo":
        """The cached ``git.Repo``; raises :class:`RefError` when root is not in a git repository."""
        return self.git.repo

    @property
    def is_git(self) -> bool:
        """Whether root lies in a git work tree."""
        return self.git.is_git

    def close(self) -> None:
        """Stop the git helper processes GitPython keeps (``git cat-file``); a later call reopens."""
        self.git.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def rev_parse(self, ref: str) -> str:
        """The full commit sha of any git revision; :class:`RefError` when it does not resolve."""
        return self.git.rev_parse(ref)

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two revisions (None when they share no history)."""
        return self.git.merge_base(a, b)

    def text_at(self, path: str, ref: str | None) -> str:
        """The text of a file (relative to root) at a git ref; ``ref=None`` reads the working tree."""
        if ref is None:
            try:
                return (self.root / path).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise NotFoundError("file not found", where=path) from None
        blob = self.git.blob_at(self.git.rev_parse(ref), path)
        if blob is None:
            raise NotFoundError(f"file does not exist at '{ref}'", where=path,
                                hint=f"check the path with 'git ls-tree -r {ref}'")
        return self.git.read_blob(blob)

    # ------------------------------------------------------------------ versions and specs

    def versions(self, name: str) -> list[VersionInfo]:
        """Versions of a prompt, newest first, from git history plus uncommitted content.

        Commits with the same content hash form one version, wherever they lie in history. When the
        working-tree file differs from HEAD in content hash (or is not committed), a first entry
        with ``working_tree=True`` and no commits holds it.
        """
        return self._versions.versions(name)

    def resolve(self, spec: str) -> Resolved:
        """Resolve ``name`` or ``name@<version prefix | git rev | label>`` to a prompt."""
        return self._resolver.resolve(spec, self.label_resolver)

    def prompt_at(self, name: str, ref: str | None) -> Prompt:
        """The prompt at a ref (version prefix, rev or label); ``ref=None`` is the working tree."""
        return self.resolve(name if ref is None else f"{name}@{ref}").prompt

    def committed(self, resolved: Resolved) -> tuple[str, str] | None:
        """(commit, path) of the newest commit holding the resolved content; None when uncommitted
        (or root is not in git)."""
        if resolved.commit is not None:
            return resolved.commit, resolved.path
        if self.is_git:
            for info in self.versions(resolved.name):
                if info.hash == resolved.prompt.hash and info.commits:
                    return info.commits[0].sha, info.commits[0].path
        return None

    # ------------------------------------------------------------------ suites

    def suite_at(self, prompt: Prompt, ref: str | None) -> list[Case]:
        """The cases of a prompt's suite (file or folder) at a git ref; None reads the working tree."""
        return self._suite_at(prompt, ref)[0]

    def suite_reads(self, prompt: Prompt, ref: str | None) -> set[str]:
        """The files a prompt's suite names at a ref (None: the working tree): ``file://`` values and
        the files of ``python`` assertions; empty when it names none or does not load there."""
        if not prompt.suite:
            return set()
        try:
            cases, files = self._suite_at(prompt, ref, only_with_refs=True)
        except PromptopsError:
            return set()
        return set(files.reads).union(*(python_paths(case.asserts) for case in cases))

    def _suite_at(self, prompt: Prompt, ref: str | None, only_with_refs: bool = False) -> tuple[list[Case], Files]:
        if not prompt.suite:
            raise SuiteError(f"prompt '{prompt.name}' has no suite", where=prompt.source,
                             hint="add 'suite: datasets/<name>' to its front matter")
        suite = posixpath.normpath(prompt.suite)
        if ref is None:
            files = Files(self.root)
            texts = suite_texts(self.root / suite)
            if only_with_refs and not any(SCHEME in text or "python" in text for _, text in texts):  # names no file
                return [], files
            return parse_suite_texts(texts, files=files), files
        obj = self.git.object_at(self.git.rev_parse(ref), suite)
        if obj is None:
            raise SuiteError(f"suite path does not exist at '{ref}'", where=suite,
                             hint="the suite may have been added later; pick a later ref")
        if obj.kind == "blob":
            blobs = [(suite, obj.sha)]
        else:
            blobs = sorted(((posixpath.join(suite, name), sha) for name, sha in obj.blobs
                            if posixpath.splitext(name)[1] in SUITE_SUFFIXES), key=lambda x: x[0])
            if not blobs:
                raise SuiteError(f"suite folder holds no .jsonl, .yaml or .csv file at '{ref}'", where=suite)
        commit = self.git.rev_parse(ref)

        def read(rel: str) -> str | None:  # file:// references, as they were at the ref
            sha = self.git.blob_at(commit, rel)
            return None if sha is None else self.git.read_blob(sha)

        files = Files(self.root, read=read)
        texts = [(path, self.git.read_blob(sha)) for path, sha in blobs]
        if only_with_refs and not any(SCHEME in text or "python" in text for _, text in texts):  # names no file
            return [], files
        return parse_suite_texts(texts, files=files), files

    # ------------------------------------------------------------------ changed prompts

    def changed(self, base: str, head: str | None = None) -> list[Change]:
        """Prompts that differ between ``base`` and ``head`` (None: the working tree, untracked included)."""
        return self._changes.changed(base, head)
