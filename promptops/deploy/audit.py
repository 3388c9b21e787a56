"""The audit trail of label moves in git: an annotated tag ``promptops/<name>/<env>`` per label,
force-moved to the version's commit, whose message says version, model, score, threshold, reason
and actor. All git work goes through :class:`~promptops.history.git.GitRepo`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import PromptopsError
from ..history.git import GitRepo
from .gate import pct

TAG_PREFIX = "promptops"
_LOCK_FILE = "promptops-labels.lock"


def tag_name(name: str, env: str) -> str:
    """The git tag that records where label ``env`` of prompt ``name`` points."""
    return f"{TAG_PREFIX}/{name}/{env}"


def tag_message(f: dict[str, Any]) -> str:
    """The tag message of a label move (the fields of its deployment row)."""
    score = "no eval" if f["score"] is None else pct(f["score"])
    threshold = "none" if f["threshold"] is None else pct(f["threshold"])
    title = (f"rollback {f['prompt']} in {f['env']} to {f['version']}" if f.get("rollback_of")
             else f"canary {f['prompt']}@{f['version']} in {f['env']} at {f['canary_percent']:g}%"
             if f.get("canary_percent") is not None else f"promote {f['prompt']}@{f['version']} to {f['env']}")
    body = [f"version: {f['version']} ({f['hash']})", f"model: {f['model']}",
            f"score: {score} (threshold {threshold})" + (" FORCED" if f["forced"] else ""),
            f"actor: {f['actor']}"]
    if f.get("rollback_of"):
        body.append(f"rollback-of: deployment #{f['rollback_of']}")
    if f.get("canary_base"):
        body.append(f"canary: {f['canary_percent']:g}% of traffic; the rest stays on deployment #{f['canary_base']}")
    if f.get("canary_end"):
        body.append(f"ends-canary: deployment #{f['canary_end']}")
    if f["reason"]:
        body.append(f"reason: {' '.join(str(f['reason']).split())}")
    return f"promptops: {title}\n\n" + "\n".join(body)


def make_tag_object(git: GitRepo, tag: str, fields: dict[str, Any]) -> str | None:
    """An annotated tag object for the move, not yet referenced; None when the commit is unknown here."""
    if not git.valid_tag_name(tag):
        raise PromptopsError(f"'{tag}' is not a valid git tag name",
                             hint="use letters, digits, '-', '_' or '.' in prompt and environment names")
    commit = fields["commit"]
    if not commit or git.find_commit(commit) != commit:
        return None
    return git.make_tag(tag, commit, git.committer_ident(fields["actor"]), tag_message(fields))


def point_tag(git: GitRepo, tag: str, tag_object: str | None, deployment_id: int) -> None:
    """Move the tag to its new object; with none (the version's commit is gone from this clone),
    delete it, since a stale tag would mislead."""
    if tag_object:
        git.set_tag(tag, tag_object, f"promptops: deployment #{deployment_id}")
    else:
        git.delete_tag(tag)


@contextmanager
def label_lock(git: GitRepo) -> Iterator[None]:
    """A lock file in the git folder, so tag updates happen in the order of store writes.

    Without advisory locks (Windows) the store stays right and the tag may lag a race."""
    with git.locked(_LOCK_FILE):
        yield


def actor_of(git: GitRepo) -> str:
    """Who moves a label: git's ``user.name`` as seen from the repository, else ``$USER``."""
    return git.user_name() or os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
