"""Importers: bring suites written for other tools into a promptops project.

- :mod:`.promptfoo`: ``promptfooconfig.yaml`` → ``prompts/``, ``datasets/`` and ``promptops.yaml``
  models (:func:`import_promptfoo`).
"""

from __future__ import annotations

from .promptfoo import ImportResult, import_promptfoo

__all__ = ["ImportResult", "import_promptfoo"]
