"""A rich progress bar for evals: done/total, failures, errors, calls per second.

It is drawn from the moment the command starts (a pulsing bar while the suites load and the
provider library imports, then done/total), on the error console only when that is a terminal:
piped or captured output gets no bar at all, never a line per update. ``-q`` turns it off."""

from __future__ import annotations

import time

from ..eval.results import Progress


class BarProgress(Progress):
    def __init__(self, console, *, label: str = "eval", eager: bool = False):
        """``eager``: draw the bar now (the caller then calls :meth:`finish` whatever happens)."""
        self.console = console
        self.label = label
        self.errors = 0
        self.failed = 0
        self.done = 0
        self.bar = None
        self.started = time.perf_counter()
        if eager:
            self._open("loading suites")

    def _open(self, stats: str) -> None:
        if self.bar is not None or not self.console.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

        self.bar = RichProgress(TextColumn(self.label), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                                console=self.console, transient=True, refresh_per_second=8)
        self.task = self.bar.add_task(self.label, total=None, stats=stats)  # total None: a pulsing bar
        self.bar.start()

    def start(self, total: int, done: int) -> None:
        self.done = done
        self._open("starting")
        if self.bar is not None:
            self.started = time.perf_counter()
            self.bar.update(self.task, total=total, completed=done, stats="starting")

    def advance(self, result) -> None:
        if result.error is not None:
            self.errors += 1
        elif not result.passed:
            self.failed += 1
        self.done += 1
        if self.bar is not None:
            rate = self.done / max(time.perf_counter() - self.started, 1e-6)
            self.bar.update(self.task, advance=1, stats=f"fail {self.failed} err {self.errors} {rate:.0f}/s")

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
