"""Canary labels: a new version serves a share of a label's traffic, the stable version the rest.

``promote(config, "NAME@REF", "production", canary=20)`` (the same eval gate as any promotion)
records a deployment with ``canary_percent=20`` and ``canary_base`` = the deployment it shares the
label with. While it runs:

- :func:`split` says what the label serves; :func:`serves_canary` picks the side of one request.
  A request naming a user is sticky: the user's bucket is a hash of (canary deployment id, user),
  so the same user always gets the same side of one canary, and a new canary draws afresh. A
  request with no user is split at random (each request independently), since nothing else would
  keep it on one side across server processes.
- :func:`compare` rates both sides on the feedback given to calls logged since the canary started
  (Wilson intervals, a pooled two-proportion z-test at 5%) and says better, worse or not yet
  distinguishable (always the latter below 10 rated calls a side), with the rated calls a
  difference of the observed size would need.
- :func:`finish` promotes the canary to all of the traffic (a promotion row with ``canary_end``,
  which replaces the canary on the label's stack); :func:`abort` is a rollback to the stable side.
  Both are recorded and tagged in git as every label move is.

``rollback`` while a canary runs is the same as :func:`abort` (the canary is the latest move);
after :func:`finish` it returns to the version that was stable before the canary.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from ..eval.stats import sample_size_two_proportions, two_proportion_z, wilson
from ..history import History
from ..store.ratings import BAD_LABELS as _BAD
from ..store.ratings import GOOD_LABELS as _GOOD
from . import _apply, _Move, _open, default_actor, rollback

if TYPE_CHECKING:  # pragma: no cover
    from ..config import Config
    from ..store import Store
    from ..store.models import Deployment

__all__ = ["Split", "abort", "compare", "finish", "serves_canary", "split"]

BUCKETS = 10_000  # a user's bucket: 0.01% steps
ALPHA = 0.05
MIN_RATED = 10  # rated calls per side before a verdict: the z-test's normal approximation needs them


@dataclass
class Split:
    """What a label serves: ``stable``, and ``canary`` on ``canary.canary_percent`` of the traffic."""

    stable: Deployment
    canary: Deployment | None = None

    @property
    def percent(self) -> float:
        return self.canary.canary_percent if self.canary is not None else 0.0  # type: ignore[return-value]


def split(config: Config, name: str, env: str, *, store: Store | None = None) -> Split:
    """The label's current split; :class:`NotFoundError` when it has no deployment."""
    store = _open(config, store)
    row = store.current_deployment(name, env)
    if row is None:
        raise NotFoundError(f"prompt '{name}' has no deployment in '{env}'",
                            hint=f"'promptops deployments {name}' lists its labels")
    return split_of(store, row)


def split_of(store: Store, row: Deployment) -> Split:
    """The split a label's newest row means (one more read when it is a canary)."""
    if row.canary_percent is None or row.canary_base is None:
        return Split(row)
    return Split(store.get_deployment(row.canary_base), row)


def bucket(canary_id: int, user: str) -> int:
    """The user's bucket for one canary, 0 to BUCKETS - 1 (stable across processes and runs)."""
    digest = hashlib.sha256(f"{canary_id}\0{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def serves_canary(canary_id: int, percent: float, user: str | None, *, rng: Any = random.random) -> bool:
    """Whether a request goes to the canary: sticky per ``user``, at random without one."""
    if not user:
        return rng() * 100 < percent
    return bucket(canary_id, user) < round(percent * BUCKETS / 100)


# --------------------------------------------------------------------------- ending a canary


def _running(store: Store, name: str, env: str) -> Split:
    row = store.current_deployment(name, env)
    if row is None or row.canary_percent is None:
        raise NotFoundError(f"{name}@{env} has no canary running",
                            hint=f"start one: promptops promote {name}@<ref> --to {env} --canary 10")
    return split_of(store, row)


def finish(config: Config, name: str, env: str, *, actor: str | None = None, reason: str = "",
           store: Store | None = None) -> Deployment:
    """Serve the canary to all of the label's traffic (a new deployment with ``canary_end``)."""
    store = _open(config, store)
    canary = _running(store, name, env).canary
    assert canary is not None
    fields = dict(prompt=name, env=env, version=canary.version, hash=canary.hash, commit=canary.commit,
                  model=canary.model, score=canary.score, threshold=canary.threshold,
                  reason=reason or f"canary #{canary.id} finished", forced=canary.forced, canary_end=canary.id,
                  actor=actor or default_actor(config))
    history = History(config.root, config.prompts_dir)
    try:
        return _apply(history, store, _Move(name, env, fields, canary.id))
    finally:
        history.close()


def abort(config: Config, name: str, env: str, *, actor: str | None = None, reason: str = "",
          store: Store | None = None) -> Deployment:
    """End the canary: the label serves its stable version to everyone again (a rollback)."""
    store = _open(config, store)
    canary = _running(store, name, env).canary
    assert canary is not None
    return rollback(config, name, env, actor=actor, reason=reason or f"canary #{canary.id} aborted", store=store)


# --------------------------------------------------------------------------- comparing the sides


def rated_good(feedback: list[Any]) -> bool | None:
    """The newest judgement of a call: a score (good at 0.5 or more), else a good / bad label, else
    a correction (the output was wrong); None when nothing rates it."""
    for row in reversed(feedback):
        label = (row.label or "").strip().casefold().replace("-", "_").replace(" ", "_")
        if row.score is not None:
            return row.score >= 0.5 and label not in _BAD
        if label in _GOOD or label in _BAD:
            return label in _GOOD
        if row.correction and row.correction.strip():
            return False
    return None


@dataclass
class Side:
    """One side of a canary: its calls since the canary started and how they were rated."""

    deployment_id: int
    version: str
    model: str
    calls: int = 0
    rated: int = 0
    good: int = 0
    low: float = 0.0
    high: float = 1.0

    @property
    def rate(self) -> float | None:
        return self.good / self.rated if self.rated else None


@dataclass
class Comparison:
    """The canary against the stable side: ``verdict`` is better, worse or not yet distinguishable."""

    prompt: str
    env: str
    percent: float
    since: str
    stable: Side
    canary: Side
    z: float
    p_value: float
    verdict: str
    needed_per_side: int | None  # rated calls per side a difference this size needs (None: no difference)
    more_rated_calls: int | None  # about how many more rated calls on the label, at this split

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["stable"]["rate"], out["canary"]["rate"] = self.stable.rate, self.canary.rate
        return out


def compare(config: Config, name: str, env: str, *, store: Store | None = None, limit: int = 1_000_000) -> Comparison:
    """Rate both sides of the running canary on calls since it started (see the module doc)."""
    store = _open(config, store)
    now = _running(store, name, env)
    canary, stable = now.canary, now.stable
    assert canary is not None
    sides = {s.deployment_id: s for s in (Side(stable.id, stable.version, stable.model),  # type: ignore[arg-type]
                                          Side(canary.id, canary.version, canary.model))}  # type: ignore[arg-type]
    by_version = {stable.version: sides[stable.id]} if stable.version != canary.version else {}  # type: ignore[index]
    if by_version:
        by_version[canary.version] = sides[canary.id]  # type: ignore[index]
    calls = store.list_calls(prompt=name, env=env, since=canary.created_at, limit=limit)
    picked = []
    for call in calls:  # served calls name their deployment; ingested ones only their version
        side = sides.get(call.deployment_id) if call.deployment_id is not None else by_version.get(call.version)
        if side is not None:
            side.calls += 1
            picked.append((call.id, side))
    feedback = store.feedback_for(call_id for call_id, _ in picked)
    for call_id, side in picked:
        good = rated_good(feedback.get(call_id, []))
        if good is not None:
            side.rated += 1
            side.good += good
    a, b = sides[stable.id], sides[canary.id]  # type: ignore[index]
    for side in (a, b):
        side.low, side.high = wilson(side.good, side.rated)
    z, p = two_proportion_z(a.good, a.rated, b.good, b.rated)
    verdict = "not yet distinguishable"
    if min(a.rated, b.rated) >= MIN_RATED and p < ALPHA:
        verdict = "better" if z > 0 else "worse"
    needed = more = None
    if verdict == "not yet distinguishable" and a.rate is not None and b.rate is not None:
        needed = sample_size_two_proportions(a.rate, b.rate, alpha=ALPHA)
        if needed is not None:
            needed = max(needed, MIN_RATED)
        if needed is not None:  # the canary side is the short one: it gets percent of the traffic
            share = canary.canary_percent / 100  # type: ignore[operator]
            more = max(0, round(max((needed - b.rated) / share, (needed - a.rated) / (1 - share))))
    return Comparison(prompt=name, env=env, percent=canary.canary_percent, since=canary.created_at.isoformat(),  # type: ignore[arg-type]
                      stable=a, canary=b, z=z, p_value=p, verdict=verdict, needed_per_side=needed,
                      more_rated_calls=more)
