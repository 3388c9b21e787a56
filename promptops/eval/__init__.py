"""Evals: cases × models × repeats scored through the one call path, with results and statistics.

``evaluate()`` is the library entry point behind ``promptops eval``; :mod:`.runner` runs targets,
:mod:`.workers` spreads big evals over processes, :mod:`.calls` makes one call with retries,
:mod:`.results` holds the data types and :mod:`.stats` the statistics."""
