"""Shared test helpers: a real temporary git project whose models live on the fake server.

They ship with promptops now (:mod:`promptops.testing.project`, behind the ``git_project`` fixture);
the names stay importable from here for the tests that use them directly."""

from __future__ import annotations

from promptops.testing.project import CAPITALS, PROMPT, capital_rules, git, make_project, write_prompt

__all__ = ["CAPITALS", "PROMPT", "capital_rules", "git", "make_project", "write_prompt"]
