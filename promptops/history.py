"""Prompt history from git: versions, content at any ref, changed prompts between two refs.

Git is the source of truth. A *version* of a prompt is the content hash of its parsed file
(:attr:`promptops.prompts.Prompt.hash`) together with the commits at which that content exists.
Nothing is registered by hand: :meth:`History.versions` reads ``git log --follow`` of the prompt
file, so a renamed prompt keeps the history of its old name.

``name@ref`` specs resolve, in this order, as a version-hash prefix (4+ hex digits), any git
revision (commit sha or prefix, branch, tag, ``HEAD~1``), then a label through the optional
``label_resolver(name, label) -> commit sha | None``.

GitPython is imported lazily (inside functions) so that listing prompts from the working tree does
not pay for it. Paths in the public API (``CommitInfo.path``, ``Resolved.path``, ``text_at``) are
relative to ``root`` and use ``/``; ``root`` may be the git work tree or a folder inside one.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import posixpath
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .errors import NotFoundError, PromptFileError, PromptopsError, RefError, SuiteError
from .prompts import NAME_RE, Prompt, load_prompt, parse_prompt
from .suites import SUITE_SUFFIXES, Case, load_suite, parse_suite_texts

if TYPE_CHECKING:  # pragma: no cover
    import git

PROMPT_SUFFIX = ".prompt"
_HEX_RE = re.compile(r"^[0-9a-fA-F]{4,64}$")
_FULL_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_LOG_FORMAT = "%x01%H%x1f%aI%x1f%an%x1f%s"

LabelResolver = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class CommitInfo:
    """One commit at which a prompt file had a given content."""

    sha: str
    short: str
    date: datetime  # author date, timezone-aware
    author: str
    message: str  # first line
    path: str  # the prompt file's path at this commit (relative to root)


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


@dataclass
class Resolved:
    """A prompt spec resolved to content. ``commit`` is None for the working tree."""

    prompt: Prompt
    name: str  # the name asked for (the prompt's name at an old commit may differ after a rename)
    commit: str | None
    ref: str | None  # the ref as written after '@' (version prefix, rev, label), None for the working tree
    path: str  # the prompt file's path at that commit, relative to root

    @property
    def version(self) -> str:
        return self.prompt.version


@dataclass(frozen=True)
class Change:
    """A prompt that differs between two refs.

    ``status`` is added, modified, removed or renamed. ``prompt_changed`` is true when the parsed
    content hash differs (a reformatting of the front matter is not a change); ``suite_changed``
    when a file of its regression suite changed. A ``modified`` change with both false is a
    formatting-only edit of the prompt file; :attr:`needs_eval` filters those out.
    ``old_name`` is the name at base (None when added).
    """

    name: str
    old_name: str | None
    status: str
    prompt_changed: bool
    suite_changed: bool

    @property
    def needs_eval(self) -> bool:
        return self.status != "removed" and (self.prompt_changed or self.suite_changed)


@dataclass
class _Entry:
    """One parsed log entry of a prompt file."""

    commit: CommitInfo
    blob: str | None  # blob sha, None when the raw line is missing (a merge)


class History:
    """Versions and content of the prompts in one repository."""

    def __init__(self, root: Path | str, prompts_dir: str = "prompts",
                 label_resolver: LabelResolver | None = None):
        self.root = Path(root).resolve()
        self.prompts_dir = prompts_dir.strip("/") or "."
        self.label_resolver = label_resolver
        self._repo: Any = None
        self._prefix = ""  # root relative to the git work tree, '' or 'sub/dir/'
        self._parsed: dict[tuple[str, str], tuple[Prompt | None, str | None, str]] = {}
        self._log_cache: dict[tuple[str, str], list[_Entry]] = {}
        self._resolved: dict[tuple[str, str], tuple[Prompt, str]] = {}

    # ------------------------------------------------------------------ working tree

    def prompt_path(self, name: str) -> str:
        """The path of a prompt file relative to root: ``prompts/<name>.prompt``."""
        if not NAME_RE.match(name):
            raise NotFoundError(f"invalid prompt name '{name}'",
                                hint="a prompt name is letters, digits, '-', '_' or '.', as its file name")
        return posixpath.normpath(f"{self.prompts_dir}/{name}{PROMPT_SUFFIX}")

    def list_prompts(self) -> list[Prompt]:
        """Every prompt in the working tree (``prompts/*.prompt``), sorted by name. No git needed."""
        folder = self.root / self.prompts_dir
        if not folder.is_dir():
            return []
        files = sorted((p for p in folder.glob(f"*{PROMPT_SUFFIX}") if p.is_file()), key=lambda p: p.stem)
        return [load_prompt(p, root=self.root) for p in files]

    def _working_prompt(self, name: str) -> Resolved:
        rel = self.prompt_path(name)
        path = self.root / rel
        if not path.is_file():
            names = [p.stem for p in sorted((self.root / self.prompts_dir).glob(f"*{PROMPT_SUFFIX}"))]
            raise NotFoundError(f"prompt '{name}' not found", where=rel,
                                hint=f"prompts: {', '.join(names)}" if names else
                                f"create {rel}")
        return Resolved(prompt=load_prompt(path, root=self.root), name=name, commit=None, ref=None, path=rel)

    # ------------------------------------------------------------------ git plumbing

    @property
    def repo(self) -> "git.Repo":
        """The cached ``git.Repo``; raises :class:`RefError` when root is not in a git repository."""
        if self._repo is None:
            try:
                import git
            except ImportError as exc:  # GitPython missing, or no git executable
                raise PromptopsError(f"git is not available: {exc}".splitlines()[0],
                                     hint="install git (and GitPython) to use prompt history") from None
            try:
                repo = git.Repo(self.root, search_parent_directories=True)
            except (git.InvalidGitRepositoryError, git.NoSuchPathError):
                raise RefError("not a git repository", where=str(self.root),
                               hint="versions come from git history: run 'git init' and commit the prompts") from None
            if repo.working_tree_dir is None:
                raise RefError("a bare git repository has no working tree", where=str(self.root))
            top = Path(repo.working_tree_dir).resolve()
            rel = self.root.relative_to(top).as_posix() if self.root != top else ""
            self._prefix = "" if rel in ("", ".") else rel + "/"
            self._repo = repo
        return self._repo

    def close(self) -> None:
        """Stop the git helper processes GitPython keeps (``git cat-file``); a later call reopens."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_git(self) -> bool:
        try:
            self.repo
        except RefError:
            return False
        return True

    def _git_path(self, rel: str) -> str:
        self.repo  # sets the prefix
        return self._prefix + rel

    def _rel_path(self, git_path: str) -> str | None:
        """A repository path made relative to root; None when it lies outside root."""
        if not self._prefix:
            return git_path
        return git_path[len(self._prefix):] if git_path.startswith(self._prefix) else None

    def _head_sha(self) -> str | None:
        repo = self.repo
        try:
            return repo.head.commit.hexsha
        except ValueError:  # unborn HEAD: no commits yet
            return None

    def rev_parse(self, ref: str) -> str:
        """The full commit sha of any git revision; :class:`RefError` when it does not resolve."""
        commit = self._try_rev(ref)
        if commit is None:
            raise RefError(f"unknown git ref '{ref}'", hint="use a branch, tag, commit sha or HEAD~N")
        return commit

    def _try_rev(self, ref: str) -> str | None:
        import git

        if not ref or ref.startswith("-") or any(c in ref for c in "\0\n"):
            return None
        if _FULL_SHA_RE.match(ref):
            try:
                obj = self.repo.rev_parse(ref)
                while obj.type == "tag":
                    obj = obj.object
                return obj.hexsha if obj.type == "commit" else None
            except (ValueError, git.BadName, git.BadObject):
                return None
        try:
            return self.repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}").strip() or None
        except git.GitCommandError:
            return None

    def current_branch(self) -> str | None:
        """The checked-out branch, or None (no git, detached HEAD).

        Read from ``HEAD`` in the git directory, without GitPython: an eval records its branch,
        and a fully cached eval should not pay for importing git."""
        for folder in (self.root, *self.root.parents):
            dot_git = folder / ".git"
            try:
                if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
                    text = dot_git.read_text(encoding="utf-8").strip()
                    if not text.startswith("gitdir:"):
                        return None
                    git_dir = (folder / text[len("gitdir:"):].strip()).resolve()
                elif dot_git.is_dir():
                    git_dir = dot_git
                else:
                    continue
                head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
            except OSError:
                return None
            prefix = "ref: refs/heads/"
            return head[len(prefix):] if head.startswith(prefix) else None
        return None

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two revisions (None when they share no history)."""
        import git

        sa, sb = self.rev_parse(a), self.rev_parse(b)
        try:
            return self.repo.git.merge_base(sa, sb).strip() or None
        except git.GitCommandError:
            return None

    def _blob_at(self, commit: str, rel: str) -> Any | None:
        """The git object at ``rel`` (relative to root) in a commit's tree, or None."""
        tree = self.repo.commit(commit).tree
        try:
            return tree / self._git_path(rel) if rel not in ("", ".") else tree
        except KeyError:
            return None

    def _read_blob(self, blob_sha: str) -> str:
        data = self.repo.odb.stream(bytes.fromhex(blob_sha)).read()
        return data.decode("utf-8", errors="replace")

    def text_at(self, path: str, ref: str | None) -> str:
        """The text of a file (relative to root) at a git ref; ``ref=None`` reads the working tree."""
        if ref is None:
            try:
                return (self.root / path).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise NotFoundError("file not found", where=path) from None
        commit = self.rev_parse(ref)
        obj = self._blob_at(commit, path)
        if obj is None or obj.type != "blob":
            raise NotFoundError(f"file does not exist at '{ref}'", where=path,
                                hint=f"check the path with 'git ls-tree -r {ref}'")
        return self._read_blob(obj.hexsha)

    # ------------------------------------------------------------------ parsing with caches

    def _parse_blob(self, blob_sha: str, path: str, short: str) -> tuple[Prompt | None, str | None, str]:
        """(prompt, error, hash) of a blob; cached by blob sha (git content never changes)."""
        key = (blob_sha, path)
        if key not in self._parsed:
            self._parsed[key] = self._parse_text(self._read_blob(blob_sha), f"{path}@{short}")
        return self._parsed[key]

    @staticmethod
    def _parse_text(text: str, source: str) -> tuple[Prompt | None, str | None, str]:
        try:
            prompt = parse_prompt(text, source=source, expected_name=None)
        except PromptopsError as exc:
            return None, exc.one_line(), hashlib.sha256(text.encode("utf-8")).hexdigest()
        return prompt, None, prompt.hash

    # ------------------------------------------------------------------ versions

    def _log(self, name: str) -> list[_Entry]:
        """Log entries (newest first) of the prompt file, following renames, with blob shas."""
        head = self._head_sha()
        if head is None:
            return []
        rel = self.prompt_path(name)
        key = (head, rel)
        if key in self._log_cache:
            return self._log_cache[key]
        import git

        args = ["--follow", "--raw", "--no-abbrev", "--no-color", "-z", f"--format={_LOG_FORMAT}"]
        try:  # merges that change the file (a conflict resolution) are versions too
            out = self.repo.git.log(*args, "--diff-merges=first-parent", head, "--", self._git_path(rel))
        except git.GitCommandError:  # git < 2.31: no --diff-merges
            out = self.repo.git.log(*args, "-m", head, "--", self._git_path(rel))
        entries: list[_Entry] = []
        done: set[str] = set()
        current = rel  # the file's path at the commit being read (older commits may use an old path)
        for record in out.split("\x01"):
            if not record.strip("\0\n"):
                continue
            header, _, rest = record.partition("\0")
            sha, date, author, message = (header.split("\x1f") + ["", "", "", ""])[:4]
            if sha in done:  # with -m a merge is listed once per parent: keep the first
                continue
            done.add(sha)
            tokens = [t for t in rest.lstrip("\n").split("\0")]
            blob, path, older, deleted, seen = None, current, current, False, False
            i = 0
            while i < len(tokens):
                meta = tokens[i]
                if not meta.startswith(":"):
                    i += 1
                    continue
                fields = meta[1:].split()
                status = fields[-1] if fields else "M"
                if status[:1] in ("R", "C") and i + 2 < len(tokens):
                    src, dst = tokens[i + 1], tokens[i + 2]
                    i += 3
                else:
                    src = dst = tokens[i + 1] if i + 1 < len(tokens) else ""
                    i += 2
                if seen:
                    continue  # one file is followed; take its first entry
                seen = True
                dst_rel, src_rel = self._rel_path(dst), self._rel_path(src)
                if dst_rel is None:
                    continue
                path = dst_rel
                older = src_rel if status[:1] == "R" and src_rel else dst_rel
                if status[:1] == "D":
                    deleted = True
                else:
                    blob = fields[3] if len(fields) >= 4 else None
            if deleted:
                current = path
                continue
            info = CommitInfo(sha=sha, short=sha[:7], date=_parse_date(date), author=author,
                              message=message, path=path)
            if not seen:  # a merge commit: no raw line; look the file up in its tree
                obj = self._blob_at(sha, current)
                if obj is None or obj.type != "blob":
                    continue
                blob = obj.hexsha
            if blob is None or set(blob) == {"0"}:
                continue
            entries.append(_Entry(commit=info, blob=blob))
            current = older
        self._log_cache[key] = entries
        return entries

    def versions(self, name: str) -> list[VersionInfo]:
        """Versions of a prompt, newest first, from git history plus uncommitted content.

        Commits with the same content hash form one version, wherever they lie in history. When the
        working-tree file differs from HEAD in content hash (or is not committed), a first entry
        with ``working_tree=True`` and no commits holds it.
        """
        by_hash: dict[str, VersionInfo] = {}
        ordered: list[VersionInfo] = []
        for entry in self._log(name):
            prompt, error, digest = self._parse_blob(entry.blob, entry.commit.path, entry.commit.short)
            info = by_hash.get(digest)
            if info is None:
                info = VersionInfo(version=digest[:12], hash=digest, error=error, prompt=prompt)
                by_hash[digest] = info
                ordered.append(info)
            info.commits.append(entry.commit)
        rel = self.prompt_path(name)
        wt_path = self.root / rel
        if wt_path.is_file():
            text = wt_path.read_text(encoding="utf-8", errors="replace")
            head = self._head_sha()
            head_hash = None
            obj = self._blob_at(head, rel) if head else None
            if obj is not None and obj.type == "blob":
                head_hash = self._parse_blob(obj.hexsha, rel, head[:7])[2]
            prompt, error, digest = self._parse_text(text, rel)
            if digest != head_hash:
                ordered.insert(0, VersionInfo(version=digest[:12], hash=digest, working_tree=True,
                                              error=error, prompt=prompt))
        if not ordered:
            raise NotFoundError(f"prompt '{name}' not found in the working tree or git history", where=rel,
                                hint="'promptops list' shows the prompts")
        return ordered

    # ------------------------------------------------------------------ resolve

    def resolve(self, spec: str) -> Resolved:
        """Resolve ``name`` or ``name@<version prefix | git rev | label>`` to a prompt."""
        name, sep, ref = spec.partition("@")
        name = name.strip()
        if not name:
            raise RefError(f"no prompt name in '{spec}'", hint="write NAME or NAME@REF")
        if not sep:
            return self._working_prompt(name)
        ref = ref.strip()
        if not ref:
            raise RefError(f"empty ref in '{spec}'", hint=f"write {name}@<version|commit|branch|tag|label>")
        self.repo  # needs git from here on
        if _HEX_RE.match(ref):
            found = self._by_version(name, ref.lower(), spec)
            if found is not None:
                return found
        commit = self._try_rev(ref)
        if commit is None and self.label_resolver is not None:
            target = self.label_resolver(name, ref)
            if target:
                commit = self._try_rev(str(target))
                if commit is None:
                    raise RefError(f"label '{ref}' of prompt '{name}' points at unknown commit '{target}'",
                                   where=spec, hint="the commit may be gone; promote a version again")
        if commit is None:
            raise RefError(f"unknown version, ref or label '{ref}' for prompt '{name}'", where=spec,
                           hint=f"'promptops log {name}' lists its versions")
        prompt, path = self._prompt_at_commit(name, commit, spec)
        return Resolved(prompt=copy.copy(prompt), name=name, commit=commit, ref=ref, path=path)

    def _by_version(self, name: str, prefix: str, spec: str) -> Resolved | None:
        try:
            versions = self.versions(name)
        except NotFoundError:
            return None
        matches: dict[str, VersionInfo] = {}
        for info in versions:
            if info.hash.startswith(prefix):
                # the same content may be both in the working tree and at a commit: prefer the commit
                if info.hash not in matches or (matches[info.hash].working_tree and not info.working_tree):
                    matches[info.hash] = info
        if not matches:
            return None
        if len(matches) > 1:
            listed = ", ".join(sorted(v.version for v in matches.values()))
            raise RefError(f"version prefix '{prefix}' of prompt '{name}' is ambiguous: {listed}", where=spec,
                           hint="write more hex digits of the version")
        info = next(iter(matches.values()))
        if info.prompt is None:
            raise PromptFileError(f"version {info.version} does not parse: {info.error}", where=spec,
                                  hint="pick another version from 'promptops log'")
        prompt = copy.copy(info.prompt)  # cached objects stay unchanged when a caller edits its copy
        if info.working_tree:
            return Resolved(prompt=prompt, name=name, commit=None, ref=prefix, path=self.prompt_path(name))
        newest = info.commits[0]
        return Resolved(prompt=prompt, name=name, commit=newest.sha, ref=prefix, path=newest.path)

    def _prompt_at_commit(self, name: str, commit: str, spec: str) -> tuple[Prompt, str]:
        key = (name, commit)
        if key in self._resolved:
            return self._resolved[key]
        rel = self.prompt_path(name)
        obj = self._blob_at(commit, rel)
        path = rel
        if obj is None or obj.type != "blob":
            # renamed since: look for the file's older paths (from the history of its current name)
            obj = None
            try:
                entries = self._log(name)
            except PromptopsError:
                entries = []
            tried = {rel}
            for entry in entries:
                if entry.commit.path in tried:
                    continue
                tried.add(entry.commit.path)
                candidate = self._blob_at(commit, entry.commit.path)
                if candidate is not None and candidate.type == "blob":
                    obj, path = candidate, entry.commit.path
                    break
        if obj is None:
            raise RefError(f"prompt '{name}' does not exist at commit {commit[:7]}", where=spec,
                           hint=f"'promptops log {name}' lists the commits that hold it")
        prompt, error, _ = self._parse_blob(obj.hexsha, path, commit[:7])
        if prompt is None:
            raise PromptFileError(error or "does not parse", where=spec)
        self._resolved[key] = (prompt, path)
        return prompt, path

    def prompt_at(self, name: str, ref: str | None) -> Prompt:
        """The prompt at a ref (version prefix, rev or label); ``ref=None`` is the working tree."""
        return self.resolve(name if ref is None else f"{name}@{ref}").prompt

    # ------------------------------------------------------------------ suites

    def suite_at(self, prompt: Prompt, ref: str | None) -> list[Case]:
        """The cases of a prompt's suite (file or folder) at a git ref; None reads the working tree."""
        if not prompt.suite:
            raise SuiteError(f"prompt '{prompt.name}' has no suite", where=prompt.source,
                             hint="add 'suite: datasets/<name>' to its front matter")
        suite = posixpath.normpath(prompt.suite)
        if ref is None:
            return load_suite(self.root / suite)
        commit = self.rev_parse(ref)
        obj = self._blob_at(commit, suite)
        if obj is None:
            raise SuiteError(f"suite path does not exist at '{ref}'", where=suite,
                             hint="the suite may have been added later; pick a later ref")
        if obj.type == "blob":
            blobs = [(suite, obj)]
        else:
            blobs = sorted(((posixpath.join(suite, b.name), b) for b in obj.blobs
                            if posixpath.splitext(b.name)[1] in SUITE_SUFFIXES), key=lambda x: x[0])
            if not blobs:
                raise SuiteError(f"suite folder holds no .jsonl, .yaml or .csv file at '{ref}'", where=suite)
        return parse_suite_texts([(path, self._read_blob(b.hexsha)) for path, b in blobs])

    # ------------------------------------------------------------------ changed prompts

    def changed(self, base: str, head: str | None = None) -> list[Change]:
        """Prompts that differ between ``base`` and ``head`` (None: the working tree, untracked included)."""
        base_sha = self.rev_parse(base)
        head_sha = self.rev_parse(head) if head is not None else None
        args = ["--find-renames", "--name-status", "--no-color", "--no-ext-diff", "-z", base_sha]
        if head_sha:
            args.append(head_sha)
        tokens = self.repo.git.diff(*args).split("\0")
        changes: list[tuple[str, str | None, str | None]] = []  # (status, old path, new path)
        i = 0
        while i < len(tokens):
            status = tokens[i]
            if not status:
                i += 1
                continue
            if status[:1] in ("R", "C") and i + 2 < len(tokens):
                src, dst = tokens[i + 1], tokens[i + 2]
                i += 3
                changes.append(("R" if status[0] == "R" else "A", src if status[0] == "R" else None, dst))
            else:
                path = tokens[i + 1] if i + 1 < len(tokens) else ""
                i += 2
                kind = status[:1]
                if kind == "A":
                    changes.append(("A", None, path))
                elif kind == "D":
                    changes.append(("D", path, None))
                else:
                    changes.append(("M", path, path))
        untracked: set[str] = set()
        if head_sha is None:
            out = self.repo.git.ls_files("--others", "--exclude-standard", "-z")
            for path in out.split("\0"):
                if path:
                    untracked.add(path)
                    changes.append(("A", None, path))
        # to root-relative paths; drop what lies outside root
        rel_changes = []
        for status, old, new in changes:
            old_r = self._rel_path(old) if old else None
            new_r = self._rel_path(new) if new else None
            if old_r is None and new_r is None:
                continue
            if status == "R" and (old_r is None or new_r is None):
                status = "A" if new_r else "D"
            rel_changes.append((status, old_r, new_r))
        untracked_rel = {r for p in untracked if (r := self._rel_path(p))}
        changed_paths = {p for _, old, new in rel_changes for p in (old, new) if p}

        prompt_changes = [(s, o, n) for s, o, n in rel_changes
                          if (o and self._is_prompt_path(o)) or (n and self._is_prompt_path(n))]
        prompt_changes = self._pair_untracked_renames(prompt_changes, untracked_rel, base_sha)

        def at_head(path: str) -> tuple[Prompt | None, str | None, str]:
            if head_sha is None:
                return self._parse_text((self.root / path).read_text(encoding="utf-8", errors="replace"), path)
            return self._parse_blob(self._blob_at(head_sha, path).hexsha, path, head_sha[:7])

        def at_base(path: str) -> tuple[Prompt | None, str | None, str]:
            return self._parse_blob(self._blob_at(base_sha, path).hexsha, path, base_sha[:7])

        def suite_touched(*prompts: Prompt | None) -> bool:
            suites = {posixpath.normpath(p.suite) for p in prompts if p is not None and p.suite}
            for path in changed_paths:
                for suite in suites:
                    if path == suite or (posixpath.dirname(path) == suite
                                         and posixpath.splitext(path)[1] in SUITE_SUFFIXES):
                        return True
            return False

        result: dict[str, Change] = {}
        handled_head: set[str] = set()
        for status, old, new in prompt_changes:
            old = old if old and self._is_prompt_path(old) else None
            new = new if new and self._is_prompt_path(new) else None
            if old and new:
                handled_head.add(new)
                b, h = at_base(old), at_head(new)
                prompt_changed = b[2] != h[2]  # parsed hashes (raw-text hashes when a side does not parse)
                name, old_name = _stem(new), _stem(old)
                kind = "renamed" if old != new else "modified"
                result[name] = Change(name=name, old_name=old_name, status=kind, prompt_changed=prompt_changed,
                                      suite_changed=suite_touched(b[0], h[0]))
            elif new:
                handled_head.add(new)
                h = at_head(new)
                result[_stem(new)] = Change(name=_stem(new), old_name=None, status="added", prompt_changed=True,
                                            suite_changed=suite_touched(h[0]))
            elif old:
                b = at_base(old)
                name = _stem(old)
                if name not in result:
                    result[name] = Change(name=name, old_name=name, status="removed", prompt_changed=True,
                                          suite_changed=suite_touched(b[0]))
        # prompts whose file did not change but whose suite did
        suite_paths = changed_paths - {p for p in changed_paths if self._is_prompt_path(p)}
        if suite_paths:
            for path in self._prompt_paths_at(head_sha):
                if path in handled_head or _stem(path) in result:
                    continue
                h = at_head(path)
                if suite_touched(h[0]):
                    result[_stem(path)] = Change(name=_stem(path), old_name=_stem(path), status="modified",
                                                 prompt_changed=False, suite_changed=True)
        return [result[k] for k in sorted(result)]

    def _is_prompt_path(self, rel: str) -> bool:
        folder = posixpath.normpath(self.prompts_dir)
        return rel.endswith(PROMPT_SUFFIX) and posixpath.dirname(rel) == ("" if folder == "." else folder)

    def _prompt_paths_at(self, commit: str | None) -> list[str]:
        if commit is None:
            folder = self.root / self.prompts_dir
            if not folder.is_dir():
                return []
            return sorted(self.prompt_path(p.stem) for p in folder.glob(f"*{PROMPT_SUFFIX}") if p.is_file())
        obj = self._blob_at(commit, self.prompts_dir)
        if obj is None or obj.type != "tree":
            return []
        return sorted(self.prompt_path(b.name[: -len(PROMPT_SUFFIX)]) for b in obj.blobs
                      if b.name.endswith(PROMPT_SUFFIX))

    def _pair_untracked_renames(self, changes: list, untracked: set[str], base_sha: str) -> list:
        """``mv a.prompt b.prompt`` without ``git add``: pair a removed prompt with an untracked one."""
        added = [c for c in changes if c[0] == "A" and c[2] in untracked]
        removed = [c for c in changes if c[0] == "D"]
        if not added or not removed:
            return changes
        texts_new = {c[2]: (self.root / c[2]).read_text(encoding="utf-8", errors="replace") for c in added}
        texts_old = {}
        for c in removed:
            obj = self._blob_at(base_sha, c[1])
            texts_old[c[1]] = self._read_blob(obj.hexsha) if obj is not None and obj.type == "blob" else ""
        scored = sorted(((difflib.SequenceMatcher(None, texts_old[o[1]], texts_new[a[2]]).ratio(), o, a)
                         for o in removed for a in added), key=lambda x: -x[0])
        used: set[int] = set()
        out = [c for c in changes if c not in added and c not in removed]
        for ratio, o, a in scored:
            if ratio < 0.5 or id(o) in used or id(a) in used:
                continue
            used.update((id(o), id(a)))
            out.append(("R", o[1], a[2]))
        out.extend(c for c in added + removed if id(c) not in used)
        return out


def _stem(path: str) -> str:
    base = posixpath.basename(path)
    return base[: -len(PROMPT_SUFFIX)] if base.endswith(PROMPT_SUFFIX) else base


def _parse_date(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return datetime.fromtimestamp(0).astimezone()
