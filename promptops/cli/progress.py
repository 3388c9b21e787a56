"""A rich progress bar for evals: done/total, errors, calls per second."""

from __future__ import annotations

import time

from ..eval.results import Progress


class BarProgress(Progress):
    def __init__(self, console):
        self.console = console
        self.errors = 0
        self.failed = 0
        self.bar = None

    def start(self, total: int, done: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

        if not self.console.is_terminal:
            return
        self.started = time.perf_counter()
        self.bar = RichProgress(TextColumn("eval"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(),
                                console=self.console, transient=True)
        self.task = self.bar.add_task("eval", total=total, completed=done, stats="")
        self.bar.start()

    def advance(self, result) -> None:
        if result.error is not None:
            self.errors += 1
        elif not result.passed:
            self.failed += 1
        if self.bar is not None:
            elapsed = max(time.perf_counter() - self.started, 1e-6)
            done = self.bar.tasks[0].completed + 1
            self.bar.update(self.task, advance=1, stats=f"fail {self.failed} err {self.errors} {done / elapsed:.0f}/s")

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.stop()
