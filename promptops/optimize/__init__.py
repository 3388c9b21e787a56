"""Automatic prompt moves before fine-tuning: ``promptops optimize``.

- :mod:`.data`: training data (a suite-format file or the logged calls with feedback), split
- :mod:`.candidates`: static few-shot sets, dynamic few-shot, instruction rewrites
- :mod:`.search`: score them on the validation part through the eval runner, write the best
"""

from __future__ import annotations

from .data import LOGGED, OptimizeError
from .search import OptimizeResult, Scored, optimize

__all__ = ["LOGGED", "OptimizeError", "OptimizeResult", "Scored", "optimize"]
