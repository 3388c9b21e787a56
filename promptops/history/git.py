"""GitRepo: every git operation promptops performs, behind one class (the only GitPython user).

GitPython is imported lazily, inside the methods that need it, so that reading prompts from the
working tree, or the checked-out branch (:func:`current_branch`), does not pay for it. Paths taken
and returned are relative to ``root`` (``/``-separated), which may be a folder inside the work tree.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PromptopsError, RefError
from .log import LOG_FORMAT, relative

if TYPE_CHECKING:  # pragma: no cover
    import git

_FULL_SHA_RE = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class GitObject:
    """A blob or tree in a commit. ``blobs`` lists a tree's own files as (name, blob sha)."""

    kind: str  # "blob" or "tree" (a submodule shows as "commit")
    sha: str
    blobs: tuple[tuple[str, str], ...] = ()


class GitRepo:
    """The git repository holding ``root``, opened on first use and kept open until :meth:`close`."""

    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()
        self._repo: Any = None
        self._prefix = ""  # root relative to the git work tree, '' or 'sub/dir/'

    # ------------------------------------------------------------------ opening

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

    @property
    def is_git(self) -> bool:
        """Whether root lies in a git work tree (opens the repository to find out)."""
        try:
            self.repo
        except RefError:
            return False
        return True

    @property
    def prefix(self) -> str:
        """Root relative to the git work tree: ``''`` or ``'sub/dir/'``."""
        self.repo  # opening sets it
        return self._prefix

    def close(self) -> None:
        """Stop the git helper processes GitPython keeps (``git cat-file``); a later call reopens."""
        if self._repo is not None:
            self._repo.close()
            self._repo = None

    def git_path(self, rel: str) -> str:
        """A root-relative path as a path in the repository."""
        return self.prefix + rel

    def rel_path(self, git_path: str) -> str | None:
        """A repository path made relative to root; None when it lies outside root."""
        return relative(git_path, self.prefix)

    # ------------------------------------------------------------------ revisions

    def head_sha(self) -> str | None:
        """The commit HEAD points at; None before the first commit."""
        try:
            return self.repo.head.commit.hexsha
        except ValueError:  # unborn HEAD: no commits yet
            return None

    def find_commit(self, ref: str) -> str | None:
        """The full commit sha of any git revision, or None when it does not resolve to a commit."""
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

    def rev_parse(self, ref: str) -> str:
        """The full commit sha of any git revision; :class:`RefError` when it does not resolve."""
        commit = self.find_commit(ref)
        if commit is None:
            raise RefError(f"unknown git ref '{ref}'", hint="use a branch, tag, commit sha or HEAD~N")
        return commit

    def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor of two revisions (None when they share no history)."""
        import git

        sa, sb = self.rev_parse(a), self.rev_parse(b)
        try:
            return self.repo.git.merge_base(sa, sb).strip() or None
        except git.GitCommandError:
            return None

    # ------------------------------------------------------------------ content

    def object_at(self, commit: str, rel: str) -> GitObject | None:
        """The object at ``rel`` (relative to root) in a commit's tree, or None.

        ``''`` and ``'.'`` name the commit's root tree (of the work tree, not of root)."""
        tree = self.repo.commit(commit).tree
        try:
            obj = tree / self.git_path(rel) if rel not in ("", ".") else tree
        except KeyError:
            return None
        blobs = tuple((b.name, b.hexsha) for b in obj.blobs) if obj.type == "tree" else ()
        return GitObject(kind=obj.type, sha=obj.hexsha, blobs=blobs)

    def blob_at(self, commit: str, rel: str) -> str | None:
        """The sha of the file at ``rel`` in a commit, or None when there is no file there."""
        obj = self.object_at(commit, rel)
        return obj.sha if obj is not None and obj.kind == "blob" else None

    def read_blob(self, blob_sha: str) -> str:
        """A blob's text (UTF-8, undecodable bytes replaced)."""
        data = self.repo.odb.stream(bytes.fromhex(blob_sha)).read()
        return data.decode("utf-8", errors="replace")

    def log_follow(self, rel: str, head: str) -> str:
        """Raw ``git log --follow --raw -z`` of one file up to ``head``, for :func:`~.log.parse_raw_log`."""
        import git

        args = ["--follow", "--raw", "--no-abbrev", "--no-color", "-z", f"--format={LOG_FORMAT}"]
        try:  # merges that change the file (a conflict resolution) are versions too
            return self.repo.git.log(*args, "--diff-merges=first-parent", head, "--", self.git_path(rel))
        except git.GitCommandError:  # git < 2.31: no --diff-merges
            return self.repo.git.log(*args, "-m", head, "--", self.git_path(rel))

    def log_touching(self, paths: list[str], head: str) -> list[tuple[str, str, str, str]]:
        """(sha, author date, author, subject) of the commits up to ``head`` that touched any of
        ``paths`` (relative to root), newest first, without following renames."""
        out = self.repo.git.log(f"--format={LOG_FORMAT}", head, "--", *[self.git_path(p) for p in paths])
        rows = []
        for record in out.split("\x01"):
            if record.strip():
                rows.append(tuple((record.strip("\n").split("\x1f") + ["", "", "", ""])[:4]))
        return rows

    def diff_name_status(self, base: str, head: str | None) -> str:
        """Raw ``git diff --name-status -z`` with renames, base to head (None: the working tree)."""
        args = ["--find-renames", "--name-status", "--no-color", "--no-ext-diff", "-z", base]
        if head:
            args.append(head)
        return self.repo.git.diff(*args)

    def untracked(self) -> list[str]:
        """Untracked files not ignored, as repository paths (not made relative to root)."""
        out = self.repo.git.ls_files("--others", "--exclude-standard", "-z")
        return [path for path in out.split("\0") if path]

    # ------------------------------------------------------------------ tags

    def valid_tag_name(self, tag: str) -> bool:
        """Whether ``refs/tags/<tag>`` is a valid ref name."""
        import git

        try:
            self.repo.git.check_ref_format(f"refs/tags/{tag}")
        except git.GitCommandError:
            return False
        return True

    def committer_ident(self, fallback_name: str) -> str:
        """``Name <email> time tz`` of git's identity; ``fallback_name`` when git has none configured."""
        import git

        try:
            return self.repo.git.var("GIT_COMMITTER_IDENT").strip()
        except git.GitCommandError:
            safe = "".join(c for c in fallback_name if c not in "<>\n") or "promptops"
            env = {"GIT_COMMITTER_NAME": safe, "GIT_COMMITTER_EMAIL": "promptops@localhost"}
            return self.repo.git.var("GIT_COMMITTER_IDENT", env=env).strip()

    def make_tag(self, tag: str, commit: str, tagger: str, message: str) -> str:
        """An annotated tag object on ``commit``, not yet referenced by any ref; returns its sha."""
        lines = [f"object {commit}", "type commit", f"tag {tag}", f"tagger {tagger}", "", message]
        proc = subprocess.run(["git", "mktag"], cwd=self.repo.working_tree_dir, input="\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            cause = (proc.stderr.strip() or f"git mktag exited {proc.returncode}").splitlines()[0]
            raise PromptopsError(f"cannot create git tag {tag}: {cause}")
        return proc.stdout.strip()

    def set_tag(self, tag: str, tag_object: str, reason: str) -> None:
        """Point ``refs/tags/<tag>`` at a tag object (force-moved; ``reason`` goes to the reflog)."""
        self.repo.git.update_ref("-m", reason, f"refs/tags/{tag}", tag_object)

    def delete_tag(self, tag: str) -> None:
        """Remove ``refs/tags/<tag>``."""
        self.repo.git.update_ref("-d", f"refs/tags/{tag}")

    @contextmanager
    def locked(self, name: str) -> Iterator[None]:
        """An exclusive lock on the file ``name`` in the (common) git folder, held for the block."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; callers must tolerate a race
            yield
            return
        path = Path(self.repo.common_dir) / name
        with open(path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # ------------------------------------------------------------------ without GitPython

    def user_name(self) -> str:
        """``git config user.name`` as seen from root (global config too, even outside a repository);
        ``''`` when unset or git is missing."""
        try:
            return subprocess.run(["git", "config", "user.name"], cwd=self.root, capture_output=True, text=True,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

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
