"""Escalation from prompt engineering to fine-tuning, decided by measurement.

- :mod:`.plateau`: has the prompt stopped improving below its target? (``check``)
- :mod:`.export`: a chat-JSONL fine-tuning set from logged calls and their feedback (``export``)
- :mod:`.estimate`: is a fine-tune worth it? (``estimate``)
- :mod:`.flow`: plateau → export → LoRA job → eval → compare → promote (``escalate``, ``compare``)
- :mod:`.events`: what the flow reports as it goes, for the CLI and the demo to render

Import-light: nothing here imports torch; the job runs in its own process.
"""

from __future__ import annotations

from .export import ExportError, ExportResult, export
from .plateau import IMPROVING, NO_TARGET, PLATEAUED, TARGET_MET, TOO_LITTLE, PlateauReport, VersionScore, check, decide

__all__ = ["ExportError", "ExportResult", "IMPROVING", "NO_TARGET", "PLATEAUED", "PlateauReport", "TARGET_MET",
           "TOO_LITTLE", "VersionScore", "check", "decide", "export"]
