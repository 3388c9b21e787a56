"""Versions of a prompt: the commits of its file grouped by content hash, plus uncommitted content.

Parsed content is cached by blob sha (git content never changes) and a file's log by HEAD, so a
long-lived History (the server's) reads each blob and each log once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import NotFoundError, PromptFileError, PromptopsError
from ..fileref import SCHEME, Files
from ..prompts import Prompt, parse_prompt
from .git import GitRepo
from .log import CommitInfo, LogEntry, parse_date, parse_raw_log
from .paths import PromptFiles

# (prompt, one-line error, hash): the parsed content hash, or the sha256 of the raw text when it
# does not parse (then prompt is None)
Parsed = tuple[Prompt | None, str | None, str]


@dataclass
class VersionInfo:
    """One version of a prompt: a content hash and the commits that hold it (newest first).

    ``working_tree`` marks uncommitted content (no commits). When the content at some commit does
    not parse, ``error`` holds the one-line cause and ``hash`` is the sha256 of the raw text instead
    of the parsed content hash (``prompt`` is then None).
    """

    version: str
    hash: str
    commits: list[CommitInfo] = field(default_factory=list)
    working_tree: bool = False
    error: str | None = None
    prompt: Prompt | None = field(default=None, repr=False, compare=False)

    @property
    def commit(self) -> str | None:
        """The newest commit holding this version (None for a working-tree-only version)."""
        return self.commits[0].sha if self.commits else None


def commit_files(git: GitRepo, root: Path, commit: str) -> Files:
    """A reader of ``file://`` references as they were at a commit."""
    def read(rel: str) -> str | None:
        sha = git.blob_at(commit, rel)
        return None if sha is None else git.read_blob(sha)

    return Files(root, read=read, error=PromptFileError)


def parse_text(text: str, source: str, root: Path | None = None, files: Files | None = None) -> Parsed:
    """Parse prompt text; a parse error is returned, not raised. ``root``: where a ``fewshot``
    dataset is read at render time (its hash is pinned in the text); ``files``: where ``file://``
    references are read (default: the working tree under ``root``)."""
    if files is None and root is not None and SCHEME in text:
        files = Files(root, error=PromptFileError)
    try:
        prompt = parse_prompt(text, source=source, expected_name=None, files=files)
    except PromptopsError as exc:
        return None, exc.one_line(), hashlib.sha256(text.encode("utf-8")).hexdigest()
    if prompt.fewshot is not None and root is not None:
        prompt.fewshot = replace(prompt.fewshot, root=Path(root))
    return prompt, None, prompt.hash


class Versions:
    """Versions and parsed content of the prompt files of one repository, with caches."""

    def __init__(self, git: GitRepo, files: PromptFiles):
        self.git = git
        self.files = files
        self._parsed: dict[tuple[str, str], Parsed] = {}
        self._log_cache: dict[tuple[str, str], list[LogEntry]] = {}

    def parse_blob(self, blob_sha: str, path: str, short: str, commit: str | None = None) -> Parsed:
        """The parsed content of a blob (``path@short`` names it in errors); cached by blob sha, and
        by commit too when the text names files (``file://``), which are read at ``commit``."""
        key = (blob_sha, path)
        if key in self._parsed:
            return self._parsed[key]
        ckey = (blob_sha, path, commit or "")
        if ckey in self._parsed:
            return self._parsed[ckey]
        text = self.git.read_blob(blob_sha)
        if SCHEME not in text or commit is None:
            self._parsed[key] = parse_text(text, f"{path}@{short}", self.files.root)
            return self._parsed[key]
        self._parsed[ckey] = parse_text(text, f"{path}@{short}", self.files.root,
                                        commit_files(self.git, self.files.root, commit))
        return self._parsed[ckey]

    def log(self, name: str) -> list[LogEntry]:
        """Log entries (newest first) of the prompt file, following renames, each with its blob."""
        head = self.git.head_sha()
        if head is None:
            return []
        rel = self.files.prompt_path(name)
        key = (head, rel)
        if key in self._log_cache:
            return self._log_cache[key]
        entries = []
        for entry in parse_raw_log(self.git.log_follow(rel, head), rel, self.git.prefix):
            if entry.blob is None:  # a merge commit: look the file up in its tree
                entry.blob = self.git.blob_at(entry.commit.sha, entry.commit.path)
                if entry.blob is None:
                    continue
            entries.append(entry)
        self._log_cache[key] = entries
        return entries

    def _with_ref_commits(self, entries: list[LogEntry]) -> list[LogEntry]:
        """The prompt file's log plus the commits that changed only a file it names (``file://``):
        each is a version of its own when that file is part of the content hash."""
        refs: set[str] = set()
        for entry in entries:
            prompt = self.parse_blob(entry.blob, entry.commit.path, entry.commit.short, entry.commit.sha)[0]
            refs.update(prompt.refs if prompt is not None else ())
        head = self.git.head_sha()
        if not refs or head is None:
            return entries
        known = {e.commit.sha for e in entries}
        paths = list(dict.fromkeys(e.commit.path for e in entries))
        position = {row[0]: i for i, row in enumerate(self.git.log_touching(sorted(refs | set(paths)), head))}
        keyed: list[tuple[float, LogEntry]] = []
        last = -1.0
        for entry in entries:  # a merge git lists only when following the file keeps its place
            last = float(position[entry.commit.sha]) if entry.commit.sha in position else last + 0.001
            keyed.append((last, entry))
        for sha, date, author, message in self.git.log_touching(sorted(refs), head):
            if sha in known:
                continue
            for path in paths:
                blob = self.git.blob_at(sha, path)
                if blob is not None:
                    info = CommitInfo(sha=sha, short=sha[:7], date=parse_date(date), author=author,
                                      message=message, path=path)
                    keyed.append((float(position.get(sha, len(position))), LogEntry(commit=info, blob=blob)))
                    break
        return [entry for _, entry in sorted(keyed, key=lambda pair: pair[0])]

    def versions(self, name: str) -> list[VersionInfo]:
        """Versions of a prompt, newest first, from git history plus uncommitted content.

        Commits with the same content hash form one version, wherever they lie in history. When the
        working-tree file differs from HEAD in content hash (or is not committed), a first entry
        with ``working_tree=True`` and no commits holds it.
        """
        by_hash: dict[str, VersionInfo] = {}
        ordered: list[VersionInfo] = []
        for entry in self._with_ref_commits(self.log(name)):
            prompt, error, digest = self.parse_blob(entry.blob, entry.commit.path, entry.commit.short,
                                                    entry.commit.sha)
            info = by_hash.get(digest)
            if info is None:
                info = VersionInfo(version=digest[:12], hash=digest, error=error, prompt=prompt)
                by_hash[digest] = info
                ordered.append(info)
            info.commits.append(entry.commit)
        rel = self.files.prompt_path(name)
        wt_path = self.files.root / rel
        if wt_path.is_file():
            text = wt_path.read_text(encoding="utf-8", errors="replace")
            head = self.git.head_sha()
            head_hash = None
            blob = self.git.blob_at(head, rel) if head else None
            if blob is not None:
                head_hash = self.parse_blob(blob, rel, head[:7], head)[2]
            prompt, error, digest = parse_text(text, rel, self.files.root)
            if digest != head_hash:
                ordered.insert(0, VersionInfo(version=digest[:12], hash=digest, working_tree=True,
                                              error=error, prompt=prompt))
        if not ordered:
            raise NotFoundError(f"prompt '{name}' not found in the working tree or git history", where=rel,
                                hint="'promptops list' shows the prompts")
        return ordered
