"""Imported by the worker processes' forkserver when every call of the eval has its compiled plan
on disk (:mod:`.plancache`): the send path without litellm, so neither the forkserver nor the
workers pay litellm's import (seconds of CPU each). See :mod:`promptops.eval.workers`."""

import gc

from . import fastpath, plancache  # noqa: F401 - imported for the forked workers
from .litellm import complete  # noqa: F401

gc.freeze()  # the imported objects stay out of the collector's way, so the forked workers share their pages
