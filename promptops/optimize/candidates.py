"""Candidate versions of a prompt: static few-shot sets, dynamic few-shot, instruction rewrites.

Each candidate is the text of a new prompt file, parsed back, so what is scored is exactly what
would be written (its hash is the version ``optimize`` would write)."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, replace
from typing import Any

from ..errors import PromptopsError
from ..fewshot import Example
from ..prompts import Prompt, Section, parse_prompt
from ..suites import Case


@dataclass
class Candidate:
    name: str  # "current", "static-greedy-4", "static-bootstrap-4", "dynamic-similar-4", "rewrite"
    kind: str
    prompt: Prompt
    text: str
    pool_text: str | None = None  # the dataset a dynamic candidate reads (written beside the prompt)


def _raw(text: str) -> str:
    return "{% raw %}" + text + "{% endraw %}" if any(t in text for t in ("{{", "{%", "{#")) else text


def _text(prompt: Prompt, front: dict[str, Any], sections: list[Section]) -> str:
    return replace(prompt, front=front, sections=sections).to_text()


def _parse(name: str, kind: str, prompt: Prompt, text: str, pool_text: str | None = None) -> Candidate:
    return Candidate(name=name, kind=kind, prompt=parse_prompt(text, source=prompt.source, expected_name=prompt.name),
                     text=text, pool_text=pool_text)


def user_turn(prompt: Prompt, case: Case) -> str:
    rendered = replace(prompt, fewshot=None).render(case.vars, strict=False)
    return next(str(m["content"]) for m in reversed(rendered) if m["role"] == "user")


def static(prompt: Prompt, name: str, examples: list[Case]) -> Candidate:
    """The prompt with ``examples`` written into its body as user/assistant turns."""
    turns = []
    for case in examples:
        turns += [Section("user", _raw(user_turn(prompt, case)), 0), Section("assistant", _raw(str(case.expected)), 0)]
    sections = [*prompt.sections[:-1], *turns, prompt.sections[-1]]
    return _parse(name, "static", prompt, _text(prompt, dict(prompt.front), sections))


def pool_text(train: list[Case]) -> str:
    return "".join(json.dumps({"vars": c.vars, "expected": str(c.expected)}, ensure_ascii=False) + "\n" for c in train)


def dynamic(prompt: Prompt, train: list[Case], k: int, select: str, pool_path: str) -> Candidate:
    """The prompt with ``fewshot: {from: pool_path, k, select, sha256}`` over the training part."""
    data = pool_text(train)
    sha = hashlib.sha256(data.encode("utf-8")).hexdigest()
    front = {**prompt.front, "fewshot": {"from": pool_path, "k": k, "select": select, "sha256": sha}}
    cand = _parse(f"dynamic-{select}-{k}", "dynamic", prompt, _text(prompt, front, list(prompt.sections)), data)
    pool = tuple(Example(vars=c.vars, expected=str(c.expected), where=c.where) for c in train)
    cand.prompt.fewshot = replace(cand.prompt.fewshot, pool=pool)
    return cand


def greedy(train: list[Case], k: int) -> list[Case]:
    """k examples covering the answers round-robin (each label once before any twice), in file order."""
    by_label: dict[str, list[Case]] = {}
    for case in train:
        by_label.setdefault(str(case.expected).strip().casefold(), []).append(case)
    queues, chosen = list(by_label.values()), []
    while len(chosen) < k and any(queues):
        for queue in queues:
            if queue and len(chosen) < k:
                chosen.append(queue.pop(0))
    return chosen


def bootstrap(passed: list[Case], k: int, seed: int = 0) -> list[Case]:
    """k of the training examples the current version already answers right, labels balanced."""
    order = list(passed)
    random.Random(seed).shuffle(order)
    return greedy(order, k)


def rewrite(prompt: Prompt, instruction: str) -> Candidate:
    """The prompt with its system section replaced by ``instruction`` (added when it has none)."""
    body = [s for s in prompt.sections if s.role != "system"]
    sections = [Section("system", _raw(instruction.strip()), 0), *body]
    return _parse("rewrite", "rewrite", prompt, _text(prompt, dict(prompt.front), sections))


REFLECT = ("You improve prompts. Below is a prompt's instruction and examples it got wrong "
           "(input, the model's answer, the right answer). Write an improved instruction that would "
           "get them right without naming these examples. Answer with the instruction text only.")


def reflection_messages(prompt: Prompt, failures: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    system = next((s.template for s in prompt.sections if s.role == "system"), "(no instruction)")
    lines = [f"INSTRUCTION:\n{system.strip()}\n", "FAILURES:"]
    for given, got, want in failures[:12]:
        lines.append(f"- input: {given[:400]}\n  answer: {got[:200]}\n  right: {want[:200]}")
    return [{"role": "system", "content": REFLECT}, {"role": "user", "content": "\n".join(lines)}]


def safe(build, notes: list[str], label: str) -> Candidate | None:
    """``build()``, or None with a note when the candidate does not parse (a turn reads as a role line)."""
    try:
        return build()
    except PromptopsError as exc:
        notes.append(f"{label}: skipped, the candidate does not parse ({exc.message})")
        return None
