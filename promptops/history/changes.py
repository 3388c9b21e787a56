"""Prompts that differ between two refs, or between a ref and the working tree (what CI reviews).

A prompt changes when its file is added, removed, renamed or edited, or when a file of its
regression suite changes, or a file it names: ``file://`` in its front matter or in its suite's
cells, a ``python`` assertion's file, its ``fewshot`` dataset (wherever in the repository that file
lives). ``mv a.prompt b.prompt`` without ``git add`` still reads as a rename: a removed prompt is
paired with a similar untracked one.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

from ..prompt_refs import python_paths
from ..prompts import Prompt
from ..suites import SUITE_SUFFIXES
from .git import GitRepo
from .paths import PROMPT_SUFFIX, PromptFiles, stem
from .versions import Parsed, Versions, parse_text

# (status, old path, new path); status is A (added, a copy included), D, M or R
PathChange = tuple[str, "str | None", "str | None"]


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


def parse_name_status(out: str) -> list[PathChange]:
    """The changes in ``git diff --name-status -z --find-renames`` output. A copy is an addition."""
    tokens = out.split("\0")
    changes: list[PathChange] = []
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
    return changes


class Changes:
    """Computes :class:`Change` lists for one repository (parsed content shared with versions)."""

    def __init__(self, git: GitRepo, files: PromptFiles, versions: Versions,
                 suite_reads: Callable[[Prompt, "str | None"], set[str]] | None = None):
        self.git = git
        self.files = files
        self.versions = versions
        self.suite_reads = suite_reads  # (prompt, commit) -> files its suite names (file://)

    def changed(self, base: str, head: str | None = None) -> list[Change]:
        """Prompts that differ between ``base`` and ``head`` (None: the working tree, untracked included)."""
        git, files = self.git, self.files
        base_sha = git.rev_parse(base)
        head_sha = git.rev_parse(head) if head is not None else None
        changes = parse_name_status(git.diff_name_status(base_sha, head_sha))
        untracked: list[str] = []
        if head_sha is None:
            untracked = git.untracked()
            changes.extend(("A", None, path) for path in untracked)
        # to root-relative paths; drop what lies outside root
        rel_changes = []
        for status, old, new in changes:
            old_r = git.rel_path(old) if old else None
            new_r = git.rel_path(new) if new else None
            if old_r is None and new_r is None:
                continue
            if status == "R" and (old_r is None or new_r is None):
                status = "A" if new_r else "D"
            rel_changes.append((status, old_r, new_r))
        untracked_rel = {r for p in untracked if (r := git.rel_path(p))}
        changed_paths = {p for _, old, new in rel_changes for p in (old, new) if p}

        prompt_changes = [(s, o, n) for s, o, n in rel_changes
                          if (o and files.is_prompt_path(o)) or (n and files.is_prompt_path(n))]
        prompt_changes = self._pair_untracked_renames(prompt_changes, untracked_rel, base_sha)

        def at_head(path: str) -> Parsed:
            if head_sha is None:
                return parse_text((files.root / path).read_text(encoding="utf-8", errors="replace"), path, files.root)
            return self.versions.parse_blob(git.object_at(head_sha, path).sha, path, head_sha[:7], head_sha)

        def at_base(path: str) -> Parsed:
            return self.versions.parse_blob(git.object_at(base_sha, path).sha, path, base_sha[:7], base_sha)

        def in_suite(*prompts: Prompt | None) -> bool:
            suites = {posixpath.normpath(p.suite) for p in prompts if p is not None and p.suite}
            for path in changed_paths:
                for suite in suites:
                    if path == suite or (posixpath.dirname(path) == suite
                                         and posixpath.splitext(path)[1] in SUITE_SUFFIXES):
                        return True
            return False

        def named(prompt: Prompt | None, commit: str | None) -> bool:
            """Whether a file the prompt names (front matter, fewshot, suite cells) changed."""
            if prompt is None:
                return False
            paths = set(prompt.refs) | python_paths(prompt.asserts)
            if prompt.fewshot is not None:
                paths.add(posixpath.normpath(prompt.fewshot.path))
            if paths & changed_paths:
                return True
            return self.suite_reads is not None and bool(self.suite_reads(prompt, commit) & changed_paths)

        def suite_touched(b: Prompt | None, h: Prompt | None) -> bool:
            """The prompt's suite, or a file it or its suite names, changed (at base ``b`` or head ``h``)."""
            return in_suite(b, h) or named(h, head_sha) or named(b, base_sha)

        result: dict[str, Change] = {}
        handled_head: set[str] = set()
        for status, old, new in prompt_changes:
            old = old if old and files.is_prompt_path(old) else None
            new = new if new and files.is_prompt_path(new) else None
            if old and new:
                handled_head.add(new)
                b, h = at_base(old), at_head(new)
                prompt_changed = b[2] != h[2]  # parsed hashes (raw-text hashes when a side does not parse)
                name, old_name = stem(new), stem(old)
                kind = "renamed" if old != new else "modified"
                result[name] = Change(name=name, old_name=old_name, status=kind, prompt_changed=prompt_changed,
                                      suite_changed=suite_touched(b[0], h[0]))
            elif new:
                handled_head.add(new)
                h = at_head(new)
                result[stem(new)] = Change(name=stem(new), old_name=None, status="added", prompt_changed=True,
                                           suite_changed=suite_touched(None, h[0]))
            elif old:
                b = at_base(old)
                name = stem(old)
                if name not in result:
                    result[name] = Change(name=name, old_name=name, status="removed", prompt_changed=True,
                                          suite_changed=suite_touched(b[0], None))
        # prompts whose file did not change but whose suite, or a file they name, did
        suite_paths = changed_paths - {p for p in changed_paths if files.is_prompt_path(p)}
        if suite_paths:
            for path in self._prompt_paths_at(head_sha):
                if path in handled_head or stem(path) in result:
                    continue
                h = at_head(path)
                b = at_base(path) if git.object_at(base_sha, path) is not None else None
                if suite_touched(b[0] if b else None, h[0]):
                    # a file the front matter names is in the hash: base and head may differ
                    result[stem(path)] = Change(name=stem(path), old_name=stem(path), status="modified",
                                                prompt_changed=b is not None and b[2] != h[2], suite_changed=True)
        return [result[k] for k in sorted(result)]

    def _prompt_paths_at(self, commit: str | None) -> list[str]:
        files = self.files
        if commit is None:
            folder = files.root / files.prompts_dir
            if not folder.is_dir():
                return []
            return sorted(files.prompt_path(p.stem) for p in folder.glob(f"*{PROMPT_SUFFIX}") if p.is_file())
        obj = self.git.object_at(commit, files.prompts_dir)
        if obj is None or obj.kind != "tree":
            return []
        return sorted(files.prompt_path(name[: -len(PROMPT_SUFFIX)]) for name, _ in obj.blobs
                      if name.endswith(PROMPT_SUFFIX))

    def _pair_untracked_renames(self, changes: list[PathChange], untracked: set[str],
                                base_sha: str) -> list[PathChange]:
        """``mv a.prompt b.prompt`` without ``git add``: pair a removed prompt with an untracked one."""
        added = [c for c in changes if c[0] == "A" and c[2] in untracked]
        removed = [c for c in changes if c[0] == "D"]
        if not added or not removed:
            return changes
        texts_new = {c[2]: (self.files.root / c[2]).read_text(encoding="utf-8", errors="replace") for c in added}
        texts_old = {}
        for c in removed:
            blob = self.git.blob_at(base_sha, c[1])
            texts_old[c[1]] = self.git.read_blob(blob) if blob is not None else ""
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
