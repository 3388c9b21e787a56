"""The optimizer's data: a suite-format file or the prompt's logged calls with feedback, checked
against the prompt's inputs, cleared of the regression suite's cases, split train / validation."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import PromptopsError, SuiteError
from ..escalate.export import all_calls, judge, normalise
from ..suites import Case, case_id, check_cases, load_suite

LOGGED = "logged"  # --train logged: the prompt's logged calls with feedback
MIN_TRAIN, MIN_VAL = 3, 5


class OptimizeError(PromptopsError):
    """The optimizer cannot run on this input."""


@dataclass
class Split:
    train: list[Case]
    val: list[Case]
    source: str
    dropped: dict[str, int] = field(default_factory=dict)


def logged_cases(store: Any, name: str) -> list[Case]:
    """Cases from the logged calls of ``name``: a correction or an output rated good is the answer."""
    calls = all_calls(store, name)
    feedback = store.feedback_for([c.id for c in calls])
    out, seen = [], set()
    for call in sorted(calls, key=lambda c: (c.created_at, c.id)):
        target, _ = judge(call, feedback.get(call.id, []))
        variables = call.variables or {}
        if target is None or normalise(variables) in seen:
            continue
        seen.add(normalise(variables))
        out.append(Case(id=case_id(variables), vars=dict(variables), expected=target, where=f"logged call {call.id}"))
    return out


def load_training(train: str, prompt: Any, *, store: Any, root: Path) -> tuple[list[Case], str]:
    """The training cases and a label for where they came from."""
    if train == LOGGED:
        cases = logged_cases(store, prompt.name)
        source = f"logged calls of {prompt.name}"
    else:
        path = Path(train) if Path(train).is_absolute() else root / train
        cases, source = load_suite(path), train
    check_cases(cases, prompt)  # a case that lacks or mistypes an input: its file and line
    for case in cases:
        if not isinstance(case.expected, (str, int, float)) or isinstance(case.expected, bool):
            raise SuiteError(f"case '{case.id}' has no 'expected' answer: the optimizer needs one to build "
                             "few-shot turns", where=case.where, hint='add "expected": "<the right answer>"')
    return cases, source


def split(cases: list[Case], suite: list[Case], source: str, *, val_fraction: float = 0.3, seed: int = 0,
          max_val: int = 300) -> Split:
    """Shuffle with ``seed``, drop the regression suite's inputs, hold out the validation part."""
    suite_keys = {normalise(c.vars) for c in suite}
    kept = [c for c in cases if normalise(c.vars) not in suite_keys]
    dropped = {"in the regression suite": len(cases) - len(kept)} if len(kept) < len(cases) else {}
    need = MIN_TRAIN + MIN_VAL
    if len(kept) < need:
        raise OptimizeError(f"{len(kept)} usable training example(s) in {source}: at least {need} are needed "
                            f"({MIN_TRAIN} to draw few-shot examples from, {MIN_VAL} to validate on)",
                            where=source, hint="add examples, or log calls and rate them"
                            + (f" ({dropped['in the regression suite']} matched the regression suite and were "
                               "dropped)" if dropped else ""))
    order = list(kept)
    random.Random(seed).shuffle(order)
    n_val = min(max_val, max(MIN_VAL, round(len(order) * val_fraction)), len(order) - MIN_TRAIN)
    return Split(train=order[n_val:], val=order[:n_val], source=source, dropped=dropped)
