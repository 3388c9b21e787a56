"""Deployments: environment labels (production, staging, any name) behind eval gates.

A label points one prompt at one *version* (content hash) and the model it runs on. Versions are
immutable; :func:`promote` moves a label, :func:`rollback` moves it back. Every move is

- one row in the store's ``deployments`` table, written in one transaction that fails with
  :class:`~promptops.store.ConflictError` when the label moved meanwhile (the newest row is current);
- an annotated git tag ``promptops/<name>/<env>``, force-moved to the version's commit, whose message
  says version, model, score, threshold, reason and actor: the audit trail lives in git too
  (:mod:`.audit`).

The gate (:mod:`.gate`): the version must have a finished eval with the chosen model scoring at
least the environment's ``min_score`` (``promptops.yaml``), else the prompt's ``target``.
``force=True`` overrides the score gate and is recorded. It does not let an uncommitted version
through: a label always names a commit, so git can show what was served (commit first, then promote).

The promoted content is also kept in the store (``prompt_versions``), so :func:`deployed_prompt`
serves it from git at the deployment's commit, or from the store when git lacks it.

A canary (:mod:`.canary`) is a promotion with ``canary=PERCENT``: the new row serves that share of
the label's traffic, the stable deployment under it the rest, until ``canary.finish`` or
``canary.abort`` (a rollback); no other promotion of the label is taken meanwhile.
"""

from __future__ import annotations

import copy
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, GateError, NotFoundError, PromptopsError, RefError
from ..history import History, Resolved
from ..history.git import GitRepo
from ..project import Project
from ..prompts import Prompt, parse_prompt
from ..store import open_store
from .audit import TAG_PREFIX, actor_of, label_lock, make_tag_object, point_tag, tag_message, tag_name
from .gate import check_gate, gate_score, threshold_for

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..store import Store
    from ..store.models import Deployment

__all__ = ["TAG_PREFIX", "current", "current_labels", "default_actor", "default_model", "deployed_prompt",
           "deployments", "gate_score", "label_commit", "promote", "rollback", "tag_message", "tag_name",
           "threshold_for"]

_ENV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")  # a label must also be a git tag path component
_served: dict[tuple[str, str, str], Prompt] = {}  # (root, name, hash) -> Prompt; content never changes
_served_lock = threading.Lock()


# --------------------------------------------------------------------------- reading


def current(config: Config, name: str, env: str, *, store: Store | None = None) -> Deployment | None:
    """The deployment label ``env`` of prompt ``name`` points at now, or None."""
    return _open(config, store).current_deployment(name, env)


def deployments(config: Config, name: str | None = None, env: str | None = None, *,
                store: Store | None = None) -> list[Deployment]:
    """Every label move (all prompts, or one prompt / one environment), newest first."""
    return _open(config, store).deployment_history(prompt=name, env=env)


def current_labels(config: Config, name: str | None = None, *, store: Store | None = None) -> list[Deployment]:
    """The current deployment of every (prompt, environment), sorted by prompt then environment."""
    seen: dict[tuple[str, str], Deployment] = {}
    for row in deployments(config, name, store=store):
        seen.setdefault((row.prompt, row.env), row)
    return [seen[k] for k in sorted(seen)]


def label_commit(config: Config, name: str, label: str) -> str | None:
    """The commit label ``label`` of prompt ``name`` points at (for ``name@label``); None if no such label."""
    return Project(config).label_commit(name, label)


def _commit_of(store: Store, name: str, label: str) -> str | None:
    row = store.current_deployment(name, label)
    return row.commit if row is not None else None


def default_model(config: Config, prompt: Prompt) -> str:
    """The model a promotion uses when none is named: the prompt's ``model``, its first of
    ``models``, then the project's ``default_model``."""
    return prompt.model or (prompt.models[0] if prompt.models else config.default_model)


def default_actor(config: Config) -> str:
    """Who moves a label: git's ``user.name`` in the project, else ``$USER``."""
    return actor_of(GitRepo(config.root))


def deployed_prompt(config: Config, name: str, label: str = "production", *, store: Store | None = None,
                    deployment: Deployment | None = None) -> tuple[Prompt, Deployment]:
    """The content label ``label`` of ``name`` serves, with its deployment.

    Read from git at the deployment's commit (even after the working tree moved on), else from the
    content the store kept at promotion. :class:`NotFoundError` when the prompt or label is unknown.
    ``deployment``: that row's content instead of the label's newest (the stable side of a canary).
    """
    store = _open(config, store)
    row = deployment if deployment is not None else store.current_deployment(name, label)
    if row is None:
        labels = sorted({d.env for d in store.deployment_history(prompt=name)})
        if labels:
            raise NotFoundError(f"prompt '{name}' has no label '{label}'", hint=f"its labels: {', '.join(labels)}")
        raise NotFoundError(f"prompt '{name}' has no deployment", hint=f"promptops promote {name}@<ref> --to {label}")
    key = (str(config.root), name, row.hash)
    prompt = _served.get(key)
    if prompt is None:
        prompt = _content_from_git(config, name, row) or _content_from_store(store, name, row)
        if prompt is None:
            raise NotFoundError(f"the content of {name}@{label} (version {row.version}) is in neither git nor "
                                "the store", hint=f"promote a version of {name} to {label} again")
        with _served_lock:
            _served[key] = prompt
    return copy.copy(prompt), row


# --------------------------------------------------------------------------- moving labels


@dataclass
class _Move:
    """Everything a label move writes, prepared (and checked) before anything is written."""

    name: str
    env: str
    fields: dict[str, Any]
    expect_id: int


def promote(config: Config, spec: str, env: str, *, model: str | None = None, reason: str = "", force: bool = False,
            actor: str | None = None, canary: float | None = None, store: Store | None = None) -> Deployment:
    """Point label ``env`` of a prompt at the version ``spec`` (``name@ref``) on ``model``.

    Raises :class:`GateError` when the version has no finished eval on that model, or scores
    below the threshold (unless ``force``), or is not committed. Promoting the version and model
    the label already has changes nothing and returns the current deployment.

    ``canary``: the version serves that percent of the label's traffic (0 < canary < 100), the
    label's current deployment the rest. A label running a canary takes no other promotion.
    """
    store = _open(config, store)
    history = History(config.root, config.prompts_dir, label_resolver=lambda n, lb: _commit_of(store, n, lb))
    try:
        resolved = history.resolve(spec)
        name, prompt = resolved.name, resolved.prompt
        _check_env(env)
        model = model or default_model(config, prompt)
        commit, path = _committed(history, resolved, spec)
        now = store.current_deployment(name, env)
        _check_canary(name, env, now, canary)
        if now is not None and now.hash == prompt.hash and now.model == model:
            if canary is not None:
                raise GateError(f"{name}@{env} already serves {prompt.version} on {model}: nothing to canary")
            return now
        score = gate_score(config, prompt, model, store=store)
        threshold = threshold_for(config, prompt, env)
        if not force:
            check_gate(name, prompt.version, env, model, score, threshold)
        actor = actor or default_actor(config)
        store.record_prompt_version(name=name, version=prompt.version, hash=prompt.hash,
                                    content=history.text_at(path, commit), path=path)
        move = _Move(name, env, dict(prompt=name, env=env, version=prompt.version, hash=prompt.hash, commit=commit,
                                     model=model, score=score, threshold=threshold, reason=reason, forced=force,
                                     actor=actor, canary_percent=canary,
                                     canary_base=now.id if canary is not None and now else None),
                     now.id if now else 0)
        return _apply(history, store, move)
    finally:
        history.close()


def rollback(config: Config, name: str, env: str, *, actor: str | None = None, reason: str = "",
             store: Store | None = None) -> Deployment:
    """Return label ``env`` of ``name`` to the version and model it had before its latest move.

    Recorded as a new deployment with ``rollback_of`` = the deployment it undoes. Rolling back
    again goes one step further back (a stack, not a toggle). No previous deployment: NotFoundError.
    """
    store = _open(config, store)
    stack = _label_stack(store.deployment_history(prompt=name, env=env))
    if not stack:
        raise NotFoundError(f"prompt '{name}' has no deployment in '{env}'",
                            hint=f"'promptops deployments {name}' lists its labels")
    if len(stack) < 2:
        raise NotFoundError(f"{name}@{env} has no previous deployment to return to",
                            hint=f"promote another version: promptops promote {name}@<ref> --to {env}")
    undone, target = stack[-1], stack[-2]
    history = History(config.root, config.prompts_dir)
    try:
        fields = dict(prompt=name, env=env, version=target.version, hash=target.hash, commit=target.commit,
                      model=target.model, score=target.score, threshold=target.threshold,
                      reason=reason, forced=False, rollback_of=undone.id,
                      actor=actor or default_actor(config))
        current_id = store.current_deployment(name, env).id  # the newest row (the stack top may be older)
        return _apply(history, store, _Move(name, env, fields, current_id))
    finally:
        history.close()


def _label_stack(rows_newest_first: list[Deployment]) -> list[Deployment]:
    """Replay a label's moves: a promotion pushes, a rollback pops. The top is what is served."""
    stack: list[Deployment] = []
    for row in reversed(rows_newest_first):
        if row.rollback_of is not None:
            if stack:
                stack.pop()
        else:
            if row.canary_end is not None and stack and stack[-1].id == row.canary_end:
                stack.pop()  # finishing a canary replaces it
            stack.append(row)
    return stack


def _committed(history: History, resolved: Resolved, spec: str) -> tuple[str, str]:
    """(commit, path) holding the resolved version; uncommitted content is refused."""
    found = history.committed(resolved)
    if found is None and not history.is_git:
        raise ConfigError(f"{history.root} is not a git repository: a label points at a commit", where=spec,
                          hint="git init, then commit the prompts (promptops init does both)")
    if found is None:
        raise GateError(f"{resolved.name}@{resolved.prompt.version} exists only in the working tree", where=spec,
                        hint=f"commit {resolved.path} first: a label points at a commit so git keeps the audit "
                        "trail")
    return found


def _apply(history: History, store: Store, move: _Move) -> Deployment:
    """Write the move: the tag object first (it can fail), the store row (atomic), then the tag ref."""
    git = history.git
    tag = tag_name(move.name, move.env)
    tag_object = make_tag_object(git, tag, move.fields) if git.is_git else None
    row = store.add_deployment(expect_current_id=move.expect_id, **move.fields)
    if git.is_git:
        with label_lock(git):
            # Whoever moved the label last in the store moves the tag last, whatever the timing.
            latest = store.current_deployment(move.name, move.env)
            if latest is not None and latest.id == row.id:
                point_tag(git, tag, tag_object, row.id)
    return row


# --------------------------------------------------------------------------- helpers


def _check_canary(name: str, env: str, now: Deployment | None, canary: float | None) -> None:
    if now is not None and now.canary_percent is not None:
        raise GateError(f"{name}@{env} is running a canary of {now.version} ({now.canary_percent:g}%)",
                        hint=f"finish or end it first: promptops canary {name} --env {env} --promote | --abort")
    if canary is None:
        return
    if not 0 < canary < 100:
        raise RefError(f"canary share {canary:g}% is out of range", where="--canary",
                       hint="a percent of the label's traffic, above 0 and below 100")
    if now is None:
        raise GateError(f"{name}@{env} has no deployment for a canary to share traffic with",
                        hint=f"promote a first version without --canary: promptops promote {name}@<ref> --to {env}")


def _check_env(env: str) -> None:
    if not _ENV_RE.match(env or ""):
        raise RefError(f"invalid environment name '{env}'",
                       hint="an environment is letters, digits, '-' or '_' (production, staging, eu-1)")


def _content_from_git(config: Config, name: str, row: Deployment) -> Prompt | None:
    if not row.commit:
        return None
    try:
        with History(config.root, config.prompts_dir) as history:
            prompt = history.resolve(f"{name}@{row.commit}").prompt
    except PromptopsError:
        return None
    return prompt if prompt.hash == row.hash else None


def _content_from_store(store: Store, name: str, row: Deployment) -> Prompt | None:
    for version in store.prompt_versions(name=name):
        if version.hash == row.hash:
            try:  # a prompt naming files (file://) cannot be rebuilt from its text alone: not found
                prompt = parse_prompt(version.content, source=f"{version.path}@{version.version}")
            except PromptopsError:
                return None
            return prompt if prompt.hash == row.hash else None
    return None


def _open(config: Config, store: Store | None) -> Store:
    return store if store is not None else open_store(config)
