"""Build a fine-tuning set from the logged calls of a prompt and their feedback.

Which calls become examples (every version of the prompt counts):

- a call with a correction: the correction is the target;
- a call rated good (score >= 0.5, or a label such as good / thumbs_up / correct): its output is
  the target, as it is;
- rated bad without a correction, unrated, or failed: dropped (the manifest counts each reason).

Then duplicates (same input after normalising case and spacing) are dropped, and so is anything
whose input matches a case of the prompt's regression suite, exactly or normalised, so the suite
stays a fair test of the fine-tuned model. The rest is shuffled with a fixed seed and split into
``train.jsonl`` and ``val.jsonl`` (chat JSONL: the rendered messages of the version being
fine-tuned, then the target as the assistant turn), with ``manifest.json`` beside them.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._util.fs import atomic_write
from ..config import Config
from ..errors import PromptopsError
from ..project import Project, using
from ..store.ratings import BAD_LABELS, GOOD_LABELS
from .plateau import check_prompt

PAGE = 5000


class ExportError(PromptopsError):
    """Not enough usable logged examples to fine-tune on."""


@dataclass
class ExportResult:
    """Where the set was written and what went into it."""

    name: str
    out_dir: Path
    train_path: Path
    val_path: Path
    manifest_path: Path
    train: int
    val: int
    dropped: dict[str, int] = field(default_factory=dict)
    version: str = ""
    commit: str | None = None
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def examples(self) -> int:
        return self.train + self.val


def normalise(value: Any) -> str:
    """Case- and spacing-insensitive form of a value (variables dicts in canonical JSON)."""
    if isinstance(value, dict):
        return json.dumps({k: normalise(v) for k, v in sorted(value.items())}, sort_keys=True, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return json.dumps([normalise(v) for v in value], ensure_ascii=False)
    return re.sub(r"\s+", " ", str(value)).strip().casefold()


def _exact(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def judge(call: Any, feedback: list[Any]) -> tuple[str | None, str]:
    """(target or None, why) for one logged call: the newest judgement decides."""
    if not feedback:
        return None, "unrated"
    correction = next((f.correction for f in reversed(feedback) if f.correction and f.correction.strip()), None)
    if correction is not None:
        return correction.strip(), "corrected"
    last = feedback[-1]
    label = (last.label or "").strip().casefold().replace("-", "_").replace(" ", "_")
    good = (last.score is not None and last.score >= 0.5) or (last.score is None and label in GOOD_LABELS)
    if good and label in BAD_LABELS:
        good = False
    if not good:
        return None, "rated bad, no correction"
    if call.output is None or call.error:
        return None, "failed call"
    return call.output.strip(), "rated good"


def all_calls(store: Any, name: str) -> list[Any]:
    calls, offset = [], 0
    while True:
        page = store.list_calls(prompt=name, limit=PAGE, offset=offset)
        calls += page
        if len(page) < PAGE:
            return calls
        offset += PAGE


def export(config: Config | Project, name: str, *, out: str | Path | None = None, version: str | None = None,
           min_examples: int | None = None, val_fraction: float = 0.2, seed: int = 0, store: Any = None,
           history: Any = None) -> ExportResult:
    """Write ``datasets/finetune/<name>/{train,val}.jsonl`` + ``manifest.json`` (or under ``out``).

    ``version``: the ref whose rendering the examples use (``abc123``, a commit, a label);
    default: the prompt's best scored version on the main branch, else the working tree.
    Raises :class:`ExportError` when fewer than ``min_examples`` examples remain.
    """
    if not 0 < val_fraction < 1:
        raise PromptopsError(f"--val-fraction {val_fraction}: must be between 0 and 1")
    with using(config, store=store, history=history) as project:
        config, store, history = project.config, project.store, project.history
        spec = f"{name}@{version}" if version else (_best_spec(config, name, store, history) or name)
        resolved = history.resolve(spec)
        prompt = resolved.prompt
        suite = history.suite_at(prompt, resolved.commit) if prompt.suite else []
    need = min_examples or config.escalate.min_examples

    suite_exact = {_exact(c.vars) for c in suite}
    suite_norm = {normalise(c.vars) for c in suite}
    calls = all_calls(store, name)
    feedback = store.feedback_for([c.id for c in calls])
    dropped: dict[str, int] = {}
    candidates: list[tuple[int, Any, str, str]] = []  # (priority, call, target, why)
    for call in calls:
        target, why = judge(call, feedback.get(call.id, []))
        if target is None:
            dropped[why] = dropped.get(why, 0) + 1
            continue
        candidates.append((0 if why == "corrected" else 1, call, target, why))
    # corrected beats rated-good for the same input; then oldest first, so reruns give the same set
    candidates.sort(key=lambda t: (t[0], t[1].created_at, t[1].id))
    kept, seen = [], set()
    for _, call, target, why in candidates:
        variables = call.variables or {}
        key = normalise(variables)
        if _exact(variables) in suite_exact or key in suite_norm:
            dropped["in the regression suite"] = dropped.get("in the regression suite", 0) + 1
            continue
        if key in seen:
            dropped["duplicate input"] = dropped.get("duplicate input", 0) + 1
            continue
        try:
            # what followed the prompt in the call (a gateway request's own messages) follows it here too
            messages = [*prompt.render(variables, strict=True), *(call.extra_messages or [])]
        except PromptopsError:
            dropped["does not render with this version"] = dropped.get("does not render with this version", 0) + 1
            continue
        seen.add(key)
        kept.append({"call": call, "why": why,
                     "row": {"messages": [*messages, {"role": "assistant", "content": target}]}})
    counts = {"logged_calls": len(calls), "kept": len(kept),
              "corrected": sum(k["why"] == "corrected" for k in kept),
              "rated_good": sum(k["why"] == "rated good" for k in kept)}
    if len(kept) < need:
        detail = ", ".join(f"{n} {why}" for why, n in sorted(dropped.items())) or "nothing dropped"
        raise ExportError(f"only {len(kept)} usable example(s) for '{name}' from {len(calls)} logged call(s) "
                          f"({detail}); {need} needed",
                          hint="log more calls with feedback (corrections or good ratings), or lower --min-examples")

    rng = random.Random(seed)
    order = list(range(len(kept)))
    rng.shuffle(order)
    n_val = max(1, round(len(kept) * val_fraction)) if len(kept) >= 2 else 0
    val_idx, train_idx = order[:n_val], order[n_val:]
    out_dir = Path(out) if out else config.datasets_path / "finetune" / name
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, idx in (("train", train_idx), ("val", val_idx)):
        text = "".join(json.dumps(kept[i]["row"], ensure_ascii=False) + "\n" for i in idx)
        path = out_dir / f"{split}.jsonl"
        atomic_write(path, text)
        files[f"{split}.jsonl"] = {"examples": len(idx), "sha256": hashlib.sha256(text.encode()).hexdigest()}
    manifest = {
        "prompt": name, "version": prompt.version, "hash": prompt.hash, "commit": resolved.commit, "spec": spec,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "filters": {"target": "correction, else the output when rated good (score >= 0.5 or a good label)",
                    "dropped": "rated bad without a correction, unrated, failed calls",
                    "dedup": "variables normalised for case and spacing",
                    "suite_overlap": f"variables equal to a case of {prompt.suite} (exact or normalised)",
                    "good_labels": sorted(GOOD_LABELS)},
        "seed": seed, "val_fraction": val_fraction,
        "split": {"train": len(train_idx), "val": len(val_idx)},
        "counts": counts, "dropped": dict(sorted(dropped.items())), "files": files,
        "sources": {"train": [kept[i]["call"].id for i in train_idx], "val": [kept[i]["call"].id for i in val_idx]},
    }
    manifest_path = out_dir / "manifest.json"
    atomic_write(manifest_path, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return ExportResult(name=name, out_dir=out_dir, train_path=out_dir / "train.jsonl", val_path=out_dir / "val.jsonl",
                        manifest_path=manifest_path, train=len(train_idx), val=len(val_idx), dropped=dict(dropped),
                        version=prompt.version, commit=resolved.commit, manifest=manifest)


def _best_spec(config: Config, name: str, store: Any, history: Any) -> str | None:
    """``name@<commit>`` of the prompt's best scored version on the main branch (committed ones)."""

    try:
        prompt = history.resolve(name).prompt
    except PromptopsError:
        return None
    scored = [s for report in check_prompt(config, prompt, store=store) for s in report.scores if s.commit]
    for s in sorted(scored, key=lambda s: -s.accuracy):  # the best one that git still knows
        try:
            history.resolve(f"{name}@{s.commit}")
        except PromptopsError:
            continue
        return f"{name}@{s.commit}"
    return None

