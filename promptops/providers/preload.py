"""Imported by the worker processes' forkserver: litellm imported and configured once, before the
workers are forked from it (see :mod:`promptops.eval.workers`)."""

import gc

from . import setup_litellm

setup_litellm()
gc.freeze()  # the imported objects stay out of the collector's way, so the forked workers share their pages
