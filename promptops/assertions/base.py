"""The pieces every assertion family shares: results, metadata and the call context.

A handler is a small function ``handler(output, value, check) -> GradeResult`` (or a coroutine
returning one). It grades the plain, positive form only: the ``not-`` prefix, weights, thresholds
and ``{{ expected }}`` substitution are applied once, centrally, in :mod:`.grading`. A handler that
cannot evaluate (a broken user function, an unreadable judge reply) raises :class:`GradeError`;
such a result is a failure in both the plain and the ``not-`` form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Literal, Union

ValueKind = Literal["any", "string", "number", "strings", "schema", "path", "none"]
ThresholdKind = Literal["score", "limit", "none"]


@dataclass(frozen=True)
class GradeResult:
    """One assertion's verdict: ``score`` is in [0, 1]; ``reason`` says why, in one line."""

    passed: bool
    score: float
    reason: str = ""


class GradeError(Exception):
    """The assertion could not be evaluated; the grade fails whatever the ``not-`` prefix says."""


@dataclass
class GradeContext:
    """What graders may need beyond the output.

    ``root`` is the user's repository (``python`` assertions resolve files against it);
    ``config`` is the project :class:`~promptops.config.Config` (the default judge model);
    ``judge`` replaces the model call of ``llm-rubric``: ``judge(model, messages) -> text`` (sync or
    async); ``embed`` replaces the sentence-embedding model of ``similar``: ``embed(texts) -> vectors``.
    What the call answered besides its text (one context per graded output): ``tool_calls``
    (``[{"id", "name", "arguments"}]``, arguments parsed from JSON when they parse), ``finish_reason``,
    and the ``tools`` the prompt declared (OpenAI function schemas), for the ``tools`` family.
    """

    root: Path = field(default_factory=Path.cwd)
    config: Any = None
    judge: Callable[[str, list[dict[str, str]]], Union[str, Awaitable[str]]] | None = None
    embed: Callable[[list[str]], list[list[float]]] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    tools: list[dict[str, Any]] | None = None


@dataclass
class Check:
    """Everything a handler may read besides the output and the (substituted) value."""

    spec: dict[str, Any]
    threshold: float | None
    vars: dict[str, Any]
    expected: Any
    latency_ms: float | None
    cost_usd: float | None
    ctx: GradeContext


Handler = Callable[[str, Any, Check], Union[GradeResult, Awaitable[GradeResult]]]


@dataclass(frozen=True)
class AssertionType:
    """Metadata of one assertion type, kept next to its handler.

    ``value``: what ``value`` holds (``none``: takes no value); ``value_required``: whether it must be
    given. ``threshold``: ``score`` (a minimum score in [0, 1], compared centrally; ``default_threshold``
    applies when the spec sets none), ``limit`` (the number is the handler's own limit, e.g. ms; given as
    ``value`` or ``threshold``) or ``none`` (not allowed). ``check_value`` raises ``ValueError`` for a
    value of the right kind that still cannot work (a bad regex). ``keys``: extra spec keys it accepts.
    """

    name: str
    handler: Handler
    description: str
    value: ValueKind = "string"
    value_required: bool = True
    threshold: ThresholdKind = "none"
    default_threshold: float | None = None
    check_value: Callable[[Any], None] | None = None
    keys: frozenset[str] = frozenset()
    family: str = ""


class Family:
    """A group of assertion types declared with a decorator; a plugin declares its own the same way."""

    def __init__(self, name: str):
        self.name = name
        self.types: list[AssertionType] = []

    def assertion(self, name: str, description: str, **meta: Any) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            self.types.append(AssertionType(name=name, handler=handler, description=description,
                                            family=self.name, **meta))
            return handler

        return decorate


def clip(text: Any, limit: int = 80) -> str:
    """A short printable form of a value for reasons."""
    text = text if isinstance(text, str) else repr(text)
    text = text.replace("\n", "\\n")
    return repr(text) if len(text) <= limit else repr(text[: limit - 1] + "…")


def as_strings(value: Any) -> list[str]:
    """A list of strings from a list, or from a comma-separated string."""
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [part.strip() for part in str(value).split(",") if part.strip()]


def passfail(ok: bool, reason_ok: str, reason_fail: str) -> GradeResult:
    return GradeResult(ok, 1.0 if ok else 0.0, reason_ok if ok else reason_fail)
