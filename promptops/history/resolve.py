"""``name@ref`` to content: a version-hash prefix (4+ hex digits), then any git revision, then a label.

A label goes through the caller's ``label_resolver(name, label) -> commit sha | None`` (the
deployments in the store), so history knows nothing of the store.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import NotFoundError, PromptFileError, PromptopsError, RefError
from ..prompts import Prompt, load_prompt
from .git import GitRepo
from .paths import PROMPT_SUFFIX, PromptFiles
from .versions import Versions, VersionInfo

_HEX_RE = re.compile(r"^[0-9a-fA-F]{4,64}$")

LabelResolver = Callable[[str, str], "str | None"]


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


class Resolver:
    """Resolves prompt specs of one repository; content at a commit is cached per (name, commit)."""

    def __init__(self, git: GitRepo, files: PromptFiles, versions: Versions):
        self.git = git
        self.files = files
        self.versions = versions
        self._resolved: dict[tuple[str, str], tuple[Prompt, str]] = {}

    def resolve(self, spec: str, label_resolver: LabelResolver | None = None) -> Resolved:
        """Resolve ``name`` or ``name@<version prefix | git rev | label>`` to a prompt."""
        name, sep, ref = spec.partition("@")
        name = name.strip()
        if not name:
            raise RefError(f"no prompt name in '{spec}'", hint="write NAME or NAME@REF")
        if not sep:
            return self.working_prompt(name)
        ref = ref.strip()
        if not ref:
            raise RefError(f"empty ref in '{spec}'", hint=f"write {name}@<version|commit|branch|tag|label>")
        self.git.repo  # needs git from here on
        if _HEX_RE.match(ref):
            found = self._by_version(name, ref.lower(), spec)
            if found is not None:
                return found
        commit = self.git.find_commit(ref)
        if commit is None and label_resolver is not None:
            target = label_resolver(name, ref)
            if target:
                commit = self.git.find_commit(str(target))
                if commit is None:
                    raise RefError(f"label '{ref}' of prompt '{name}' points at unknown commit '{target}'",
                                   where=spec, hint="the commit may be gone; promote a version again")
        if commit is None:
            raise RefError(f"unknown version, ref or label '{ref}' for prompt '{name}'", where=spec,
                           hint=f"'promptops log {name}' lists its versions")
        prompt, path = self._prompt_at_commit(name, commit, spec)
        return Resolved(prompt=copy.copy(prompt), name=name, commit=commit, ref=ref, path=path)

    def working_prompt(self, name: str) -> Resolved:
        """The prompt's file in the working tree; :class:`NotFoundError` naming the others when missing."""
        rel = self.files.prompt_path(name)
        path = self.files.root / rel
        if not path.is_file():
            folder = self.files.root / self.files.prompts_dir
            names = [p.stem for p in sorted(folder.glob(f"*{PROMPT_SUFFIX}"))]
            raise NotFoundError(f"prompt '{name}' not found", where=rel,
                                hint=f"prompts: {', '.join(names)}" if names else
                                f"create {rel}")
        return Resolved(prompt=load_prompt(path, root=self.files.root), name=name, commit=None, ref=None, path=rel)

    def _by_version(self, name: str, prefix: str, spec: str) -> Resolved | None:
        try:
            versions = self.versions.versions(name)
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
            return Resolved(prompt=prompt, name=name, commit=None, ref=prefix, path=self.files.prompt_path(name))
        newest = info.commits[0]
        return Resolved(prompt=prompt, name=name, commit=newest.sha, ref=prefix, path=newest.path)

    def _prompt_at_commit(self, name: str, commit: str, spec: str) -> tuple[Prompt, str]:
        key = (name, commit)
        if key in self._resolved:
            return self._resolved[key]
        rel = self.files.prompt_path(name)
        blob = self.git.blob_at(commit, rel)
        path = rel
        if blob is None:
            # renamed since: look for the file's older paths (from the history of its current name)
            try:
                entries = self.versions.log(name)
            except PromptopsError:
                entries = []
            tried = {rel}
            for entry in entries:
                if entry.commit.path in tried:
                    continue
                tried.add(entry.commit.path)
                candidate = self.git.blob_at(commit, entry.commit.path)
                if candidate is not None:
                    blob, path = candidate, entry.commit.path
                    break
        if blob is None:
            raise RefError(f"prompt '{name}' does not exist at commit {commit[:7]}", where=spec,
                           hint=f"'promptops log {name}' lists the commits that hold it")
        prompt, error, _ = self.versions.parse_blob(blob, path, commit[:7], commit)
        if prompt is None:
            raise PromptFileError(error or "does not parse", where=spec)
        self._resolved[key] = (prompt, path)
        return prompt, path
