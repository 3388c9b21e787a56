"""What the server serves: a prompt by label (its deployment) or by version, fast.

``name@label`` is the hot path of every client. Resolving it means reading the label's current
deployment from the store and the promoted content from git (``deploy.deployed_prompt``); doing
that on every request would cost a database query and a ``git cat-file``. So a resolved prompt is
kept per (name, label): within ``ttl`` seconds it is served from memory with no I/O at all; after
that one query for the label's current deployment id decides whether the kept prompt is still
the one to serve (git is read again only when the label moved). Several server processes sharing
one database therefore agree within ``ttl`` seconds of a promotion.

A label running a canary is kept as its canary :class:`Served` with the stable one beside it;
:meth:`Served.for_user` picks a request's side (``deploy.canary.serves_canary``).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..config import Config
from ..deploy import default_model, deployed_prompt
from ..deploy.canary import serves_canary
from ..errors import NotFoundError, PromptopsError
from ..history import History
from ..prompts import Prompt, load_prompt
from ..store import Store

DEFAULT_TTL = 1.0
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(eq=False)
class Served:
    """A prompt ready to serve, with the deployment it came from (None when fetched by version)."""

    prompt: Prompt
    name: str
    label: str | None
    model: str | None
    commit: str | None
    deployment_id: int | None
    extra: dict[str, Any] = field(default_factory=dict)  # what routes derive once (the JSON body)
    canary: bool | None = None  # in a canary split: True on the canary side, False on the stable one
    percent: float | None = None  # the canary's share of the traffic (on the canary side)
    stable: Served | None = None  # on the canary side: the other side of the split

    def for_user(self, user: str | None, *, random_without_user: bool = True) -> Served:
        """The side of the split that serves ``user`` (sticky); without a user a random side, or
        the stable side when ``random_without_user`` is False. Not in a split: itself."""
        if self.stable is None or self.percent is None or self.deployment_id is None:
            return self
        if not user and not random_without_user:
            return self.stable
        return self if serves_canary(self.deployment_id, self.percent, user) else self.stable

    def log_columns(self) -> dict[str, Any]:
        """What a logged call records of the deployment that served it."""
        return {"deployment_id": self.deployment_id, "canary": self.canary}

    @property
    def version(self) -> str:
        return self.prompt.version

    @property
    def params(self) -> dict[str, Any]:
        return self.prompt.params


def check_name(name: str) -> None:
    if not _NAME_RE.match(name) or len(name) > 128:
        raise NotFoundError(f"prompt '{name[:60]}' not found", hint="GET /v1/prompts lists the prompts")


class PromptCache:
    """Resolved prompts per (name, label), checked against the store every ``ttl`` seconds."""

    def __init__(self, config: Config, store: Store, *, ttl: float = DEFAULT_TTL):
        self.config = config
        self.store = store
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, Served]] = {}
        self._history: Any = None
        self._git_lock = threading.Lock()  # GitPython's persistent cat-file is not thread-safe

    def fresh(self, name: str, label: str) -> Served | None:
        """The kept prompt when it is younger than ``ttl``; no I/O (safe on the event loop)."""
        entry = self._entries.get((name, label))
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        return None

    def by_label(self, name: str, label: str) -> Served:
        """The prompt a label serves now (blocking: may query the store and read git)."""
        hit = self.fresh(name, label)
        if hit is not None:
            return hit
        check_name(name)
        key = (name, label)
        current = self.store.current_deployment(name, label)
        if current is None:
            self._entries.pop(key, None)
            self._missing(name, label)
        entry = self._entries.get(key)
        if entry is not None and entry[1].deployment_id == current.id:
            served = entry[1]
        else:
            with self._git_lock:
                served = self._load(name, label, current)
                if current.canary_percent is not None and current.canary_base is not None:
                    served.canary, served.percent = True, current.canary_percent
                    served.stable = self._load(name, label, self.store.get_deployment(current.canary_base))
                    served.stable.canary = False
        self._entries[key] = (time.monotonic() + self.ttl, served)
        return served

    def _load(self, name: str, label: str, row: Any) -> Served:
        prompt, deployment = deployed_prompt(self.config, name, label, store=self.store, deployment=row)
        return Served(prompt=prompt, name=name, label=label, model=deployment.model, commit=deployment.commit,
                      deployment_id=deployment.id)

    def _missing(self, name: str, label: str) -> None:
        labels = sorted({d.env for d in self.store.deployment_history(prompt=name)})
        if labels:
            raise NotFoundError(f"prompt '{name}' has no label '{label}'", hint=f"its labels: {', '.join(labels)}")
        if (self.config.prompts_path / f"{name}.prompt").is_file():
            raise NotFoundError(f"prompt '{name}' has no label '{label}' (it was never promoted)",
                                hint=f"promptops promote {name}@<ref> --to {label}")
        raise NotFoundError(f"prompt '{name}' not found", hint="GET /v1/prompts lists the prompts")

    def by_version(self, name: str, version: str) -> Served:
        """A version prefix or git ref of a prompt, resolved through its git history."""
        check_name(name)
        with self._git_lock:
            resolved = self.history().resolve(f"{name}@{version}")
        prompt = resolved.prompt
        return Served(prompt=prompt, name=name, label=None, model=default_model(self.config, prompt),
                      commit=resolved.commit, deployment_id=None)

    def history(self) -> Any:
        if self._history is None:
            self._history = History(self.config.root, self.config.prompts_dir)
        return self._history

    def working_prompts(self) -> list[tuple[str, Prompt | None, str | None]]:
        """(name, prompt or None, error) for every ``prompts/*.prompt`` in the working tree."""

        folder = self.config.prompts_path
        out: list[tuple[str, Prompt | None, str | None]] = []
        if not folder.is_dir():
            return out
        for path in sorted(p for p in folder.glob("*.prompt") if p.is_file()):
            try:
                out.append((path.stem, load_prompt(path, root=self.config.root), None))
            except PromptopsError as exc:
                out.append((path.stem, None, exc.one_line()))
        return out

    def invalidate(self) -> None:
        """Forget every kept prompt (the next request checks the store)."""
        self._entries.clear()

    def close(self) -> None:
        if self._history is not None:
            self._history.close()
            self._history = None
