"""The results grid: an eval's cases × (prompt version, model), and two runs compared.

Built from the store's rows in memory (one query per run, never one per case): a 1,000-case run on
three models is 3,000 rows, grouped, filtered and searched here in milliseconds, then paginated so
a page renders only the cases it shows.

With two runs, the first is the base and the second the head. Their columns pair by model (or,
when they share none and each scored one model, with each other); a case whose verdict differs in
a pair is *changed*: ``fixed`` (base failed, head passes), ``broke`` (the reverse), ``changed``
otherwise (a failure became an error, say, or one model fixed and another broke).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

STATUSES = ("all", "failing", "fail", "error", "pass", "changed")
ORDER = {"error": 0, "fail": 1, "pass": 2}
MAX_PER_PAGE = 1000
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class Column:
    """One (run, model): its version and model head the column."""

    run_id: int
    version: str
    model: str

    @property
    def key(self) -> tuple[int, str]:
        return (self.run_id, self.model)


@dataclass
class Cell:
    """One case on one column: its results (one per repeat), worst verdict first."""

    results: list[Any] = field(default_factory=list)
    state: str = "pass"  # set by build_grid once the results are in

    def settle(self) -> str:
        self.results.sort(key=lambda r: r.repeat_index)
        self.state = min((result_state(r) for r in self.results), key=ORDER.__getitem__)
        return self.state


@dataclass
class Row:
    """One case: its inputs, its cells by column key, and its change between the two runs."""

    case_id: str
    vars: dict[str, Any]
    expected: Any
    cells: dict[tuple[int, str], Cell] = field(default_factory=dict)
    change: str | None = None  # fixed | broke | changed (comparisons only)
    state: str = "pass"  # the worst verdict over its cells, set by build_grid

    def haystack(self) -> str:
        texts = [self.case_id, _text(self.vars), _text(self.expected)]
        texts += [r.output or "" for c in self.cells.values() for r in c.results]
        return "\n".join(texts).casefold()


@dataclass
class Grid:
    """A page of the grid, with the counts over every case (before filtering)."""

    columns: list[Column]
    rows: list[Row]  # this page's, in display order
    total: int  # cases in the runs
    matched: int  # cases through the filter and search
    page: int
    pages: int
    per_page: int
    counts: dict[str, int]  # status -> cases
    pairs: list[tuple[Column, Column]]  # compared columns (base, head)
    status: str = "all"
    query: str = ""


def natural(case_id: str) -> list[Any]:
    """Sort key: ``case-2`` before ``case-10`` (results are stored as they arrive, not in suite order)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(case_id) if part]


def result_state(result: Any) -> str:
    """``error`` (the call failed), ``pass`` or ``fail``."""
    return "error" if result.error is not None else ("pass" if result.passed else "fail")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def columns_of(run: Any, results: Iterable[Any]) -> list[Column]:
    """The run's models in its declared order, then any other model its results name."""
    models = list(dict.fromkeys([*(run.models or []), *(r.model for r in results)]))
    return [Column(run_id=run.id, version=run.version, model=m) for m in models]


def pair_columns(base: Sequence[Column], head: Sequence[Column]) -> list[tuple[Column, Column]]:
    """Base and head columns compared: same model; or the only two when they share no model."""
    by_model = {c.model: c for c in base}
    pairs = [(by_model[c.model], c) for c in head if c.model in by_model]
    if not pairs and len(base) == 1 and len(head) == 1:
        pairs = [(base[0], head[0])]
    return pairs


def change_of(row: Row, pairs: Sequence[tuple[Column, Column]]) -> str | None:
    kinds = set()
    for b, h in pairs:
        before, after = row.cells.get(b.key), row.cells.get(h.key)
        if before is None or after is None or before.state == after.state:
            continue
        kinds.add("fixed" if after.state == "pass" else "broke" if before.state == "pass" else "changed")
    return kinds.pop() if len(kinds) == 1 else ("changed" if kinds else None)


def _matches(row: Row, status: str) -> bool:
    if status == "all":
        return True
    if status == "changed":
        return row.change is not None
    if status == "failing":
        return row.state != "pass"
    if status == "pass":
        return row.state == "pass"
    return any(c.state == status for c in row.cells.values())


def build_grid(runs: Sequence[tuple[Any, Sequence[Any]]], *, status: str = "all", query: str = "",
               page: int = 1, per_page: int = 100) -> Grid:
    """The grid of ``runs`` (each ``(run, its results)``; two runs: base then head), filtered to
    ``status`` (one of :data:`STATUSES`), searched for ``query`` (case-insensitive, over the case
    id, its vars, expected value and every output), and cut to ``page`` of ``per_page`` cases.

    Order: changed cases first (comparisons), then errors, failures, passes; by case id within
    (numbers in it compared as numbers)."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    columns: list[Column] = []
    rows: dict[str, Row] = {}
    for run, results in runs:
        columns += columns_of(run, results)
        for r in results:
            row = rows.get(r.case_id)
            if row is None:
                row = rows[r.case_id] = Row(case_id=r.case_id, vars=r.vars or {}, expected=r.expected)
            row.cells.setdefault((run.id, r.model), Cell()).results.append(r)
    pairs = pair_columns(columns_of(*runs[0]), columns_of(*runs[1])) if len(runs) == 2 else []
    for row in rows.values():
        row.state = min((c.settle() for c in row.cells.values()), key=ORDER.__getitem__)
        if pairs:
            row.change = change_of(row, pairs)
    every = sorted(rows.values(), key=lambda r: (r.change is None, ORDER[r.state], natural(r.case_id)))
    counts = {s: sum(1 for r in every if _matches(r, s)) for s in STATUSES}
    chosen = [r for r in every if _matches(r, status)]
    needle = query.strip().casefold()
    if needle:
        chosen = [r for r in chosen if needle in r.haystack()]
    pages = max(1, math.ceil(len(chosen) / per_page))
    page = max(1, min(page, pages))
    shown = chosen[(page - 1) * per_page: page * per_page]
    return Grid(columns=columns, rows=shown, total=len(rows), matched=len(chosen), page=page, pages=pages,
                per_page=per_page, counts=counts, pairs=pairs, status=status, query=query.strip())


__all__ = [
    "MAX_PER_PAGE",
    "STATUSES",
    "Cell",
    "Column",
    "Grid",
    "Row",
    "build_grid",
    "pair_columns",
    "result_state",
]
