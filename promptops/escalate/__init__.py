"""Escalation from prompt engineering to fine-tuning, decided by measurement.

- :mod:`.decision`: the rule: gap to target, recent paired gains, optimization tried, budget (``decide``)
- :mod:`.plateau`: that rule over the eval history, per prompt × model (``check``)
- :mod:`.export`: a chat-JSONL fine-tuning set from logged calls and their feedback (``export``)
- :mod:`.measure`: a few real training steps timed before the job; max_length from the data
- :mod:`.estimate`: is a fine-tune worth it? (``estimate``; after the job, beside what was measured)
- :mod:`.compare`: two scored sides paired on the same cases (``compare``, and the flow's table)
- :mod:`.flow`: plateau → export → measure → estimate → LoRA job → eval → compare → promote (``escalate``)
- :mod:`.events`: what the flow reports as it goes, for the CLI and the demo to render

Import-light: nothing here imports torch; the job runs in its own process.
"""

from __future__ import annotations

from .export import ExportError, ExportResult, export
from .plateau import (DECLINED, DUE, IMPROVING, NO_TARGET, NOTHING, OPTIMIZE_SOURCE, PLATEAUED, TARGET_MET,
                      TOO_LITTLE, PlateauReport, VersionScore, check, decide, record_optimization)

__all__ = ["DECLINED", "DUE", "ExportError", "ExportResult", "IMPROVING", "NOTHING", "NO_TARGET", "OPTIMIZE_SOURCE",
           "PLATEAUED", "PlateauReport", "TARGET_MET", "TOO_LITTLE", "VersionScore", "check", "decide", "export", "record_optimization"]
